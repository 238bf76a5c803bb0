/* trialmatch--1.0--1.1.sql: upgrade from 1.0 (see CHANGELOG.md) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION trialmatch UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs trialmatch--1.0.sql and then this script, so that
-- every object is defined once: 1.1's changes live only here.
