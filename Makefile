# trialmatch: screen patients for clinical trials inside PostgreSQL (PGXS)

EXTENSION = trialmatch
EXTVERSION = 1.1
MODULE_big = trialmatch
OBJS = src/trialmatch.o src/parse.o src/catalog.o src/plan.o src/exec.o src/timed.o \
       src/eval.o src/avg.o src/match.o src/parallel.o src/indexpath.o \
       src/worker.o src/runs.o src/progress.o src/relation.o \
       src/patients.o src/read.o src/fold.o src/all.o \
       src/indexonly.o src/standby.o src/notes.o src/negex.o \
       src/rows.o
DATA = trialmatch--1.0.sql trialmatch--1.0--1.1.sql
PGFILEDESC = "trialmatch - clinical trial screening"

REGRESS = parse catalog semantics match order reregister privileges parallel avg omop limits relkinds match_all registration combined11 time language11 notes repeat plan_cache age_table
REGRESS_OPTS = --temp-config=$(srcdir)/test/trialmatch.conf \
               --temp-instance=./tmp_check --load-extension=trialmatch

ISOLATION = catalog_cache screen_concurrent ddl_during_screening plan_cache_concurrent
ISOLATION_OPTS = --temp-config=$(srcdir)/test/isolation.conf \
                 --temp-instance=./tmp_check_iso --load-extension=trialmatch

TAP_TESTS = 1

PG_CPPFLAGS = -Wall -Wmissing-prototypes -Wpointer-arith -Werror=vla
EXTRA_CLEAN = tmp_check tmp_check_iso results output_iso regression.* log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the shared header
$(OBJS): src/trialmatch.h src/notes.h
