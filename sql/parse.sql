-- The criteria language: every construct, precedence, and every syntax error.
-- trialmatch.check_expr() parses without looking at the catalog and returns
-- the canonical form (lower case, AND/OR fully parenthesized).
SELECT trialmatch.check_expr(e) FROM (VALUES
  ('TRUE'), ('false'), ('Unknown'),
  ('age >= 18'), ('AGE between 18 and 75'), ('age <> 40'), ('age = 40'), ('age < 1.5'), ('age <= -1'), ('age > 1e2'),
  ($$sex = 'F'$$), ($$SEX IN ('F', 'M', 'it''s')$$),
  ($$diagnosis 'E11%'$$), ($$diagnosis ('E11%', 'E10.9', 'O24_')$$),
  ($$diagnosis 'E11%' except ('E11.0', 'E11.1%')$$),
  ($$condition 201826$$), ($$condition (201826, -5) except 443238$$),
  ($$lab '4548-4' within 1 hour$$), ($$lab '4548-4' within 2 HOURS$$),
  ($$lab 'x' within 1 day$$), ($$lab 'x' within 3 days$$), ($$lab 'x' within 1 week$$), ($$lab 'x' within 2 weeks$$),
  ($$lab 'x' within 1 month$$), ($$lab 'x' within 6 months$$), ($$lab 'x' within 1 year$$), ($$lab 'x' within 10 years$$),
  ($$lab 'x' count >= 2$$), ($$lab 'x' within 1 year count where value > 7 >= 2$$),
  ($$lab 'x' count where value between 1 and 2 = 0$$),
  ($$lab 'x' last < 45$$), ($$lab 'x' first > 1$$), ($$lab 'x' min <= 0.5$$), ($$lab 'x' max >= 10$$),
  ($$lab 'x' avg between 7.0 and 10.5$$), ($$lab 'x' any > 140$$), ($$lab 'x' last > 100 unit 'mg/dL'$$),
  ($$medication 'insulin%' active$$), ($$lab 'x' last != 3$$),
  ('a 1 or b 2 and c 3'), ('(a 1 or b 2) and c 3'), ('not a 1 and b 2'), ('not (a 1 and b 2)'),
  ('not not true'), ('a 1 or b 2 or c 3 or d 4'), ('a 1 and (b 2 and c 3)'),
  (E'-- a comment\nage > 18 -- trailing comment\n and sex = ''F''')
) AS t(e);

-- Syntax errors: SQLSTATE 42601, the token, its position and a caret.
\set VERBOSITY default
SELECT trialmatch.check_expr('');
SELECT trialmatch.check_expr('age');
SELECT trialmatch.check_expr('age >');
SELECT trialmatch.check_expr('age > x');
SELECT trialmatch.check_expr('age between 1 2');
SELECT trialmatch.check_expr('age ~ 3');
SELECT trialmatch.check_expr('age ! 3');
SELECT trialmatch.check_expr('age << 18');
SELECT trialmatch.check_expr('lab 1 last << 5');
SELECT trialmatch.check_expr($$sex 'F'$$);
SELECT trialmatch.check_expr('sex = F');
SELECT trialmatch.check_expr($$sex in ('F' 'M')$$);
SELECT trialmatch.check_expr($$lab '4548-4' within 180 dayz$$);
SELECT trialmatch.check_expr($$lab '4548-4' within 1.5 days$$);
SELECT trialmatch.check_expr($$lab '4548-4' within 0 days$$);
SELECT trialmatch.check_expr($$lab '4548-4' within 2000000 days$$);
SELECT trialmatch.check_expr($$lab '4548-4' last$$);
SELECT trialmatch.check_expr($$lab '4548-4' count where > 3 > 1$$);
SELECT trialmatch.check_expr($$lab '4548-4' last > 1 unit mg$$);
SELECT trialmatch.check_expr($$lab '4548-4$$);
SELECT trialmatch.check_expr($$lab ''$$);
SELECT trialmatch.check_expr($$lab 1.5$$);
SELECT trialmatch.check_expr($$lab ('a', )$$);
SELECT trialmatch.check_expr($$lab ('a' 'b')$$);
SELECT trialmatch.check_expr('lab');
SELECT trialmatch.check_expr('lab 99999999999999999999');
SELECT trialmatch.check_expr('age > 1e999');
SELECT trialmatch.check_expr('age > 1e-999');
-- a denormal number is a number, as for float8
SELECT trialmatch.check_expr('age > 1e-320');
-- a huge token is shown cut
SELECT trialmatch.check_expr('lab ' || repeat('9', 100));
SELECT trialmatch.check_expr('(age > 1');
SELECT trialmatch.check_expr('age > 1)');
SELECT trialmatch.check_expr('age > 1 age > 2');
SELECT trialmatch.check_expr('and age > 1');
SELECT trialmatch.check_expr('age > 1 and');
SELECT trialmatch.check_expr('age > 1 # 2');
SELECT trialmatch.check_expr('age > .');
SELECT trialmatch.check_expr(E'age > 18\n  and sex = ''F''\n  and lab ''x'' within 3 parsecs');
SELECT trialmatch.check_expr($$sex = 'é' and lab 'ü' within 3 fortnights$$);
