-- trialmatch: deterministic synthetic clinical notes (issue 11).
--
--   psql -v scale=100000 -v per_patient=20 -f scripts/gen_notes.sql
--
-- (Re)creates public.notes (note_id, patient_id, written_at, body) with
-- per_patient notes (default 20) for each of patients 1..scale, in time
-- order (note k of a patient is written about 18 days after note k-1,
-- ending near 2026-11-01, the reference date of scripts/gen_data.sql).
-- A note is 8 to 18 sentences of progress-note prose (about 900 bytes on
-- average) drawn from a pool; a few percent of the notes mention each
-- benchmark phrase, in several contexts: affirmed, negated before
-- ("No evidence of ..."), negated after ("... was ruled out"), possible,
-- family history, hypothetical.  Deterministic as gen_data.sql:
-- every choice is hashint8extended(row key, salt).  Adds no index: the
-- benchmark (bench/notes.sh) creates the GIN index a DBA would.
\set ON_ERROR_STOP on
\if :{?scale}
\else
\set scale 100000
\endif
\if :{?per_patient}
\else
\set per_patient 20
\endif
SET client_min_messages = warning;
SET timezone = 'UTC';
SET synchronous_commit = off;
SET jit = off;

DROP TABLE IF EXISTS public.notes;
CREATE TABLE public.notes (
    note_id    bigint NOT NULL,
    patient_id bigint NOT NULL,
    written_at timestamptz NOT NULL,
    body       text NOT NULL
);

CREATE TEMP TABLE note_pool (id int PRIMARY KEY, txt text NOT NULL);
INSERT INTO note_pool SELECT row_number() OVER () - 1, t FROM unnest(ARRAY[
 'Patient seen in clinic today for scheduled follow-up.',
 'He reports feeling generally well with good energy and appetite.',
 'She reports intermittent fatigue over the past two weeks, worse in the afternoon.',
 'Sleep is adequate, about seven hours per night.',
 'Vital signs: blood pressure 132/84, heart rate 76, temperature 36.8 C, oxygen saturation 97% on room air.',
 'Physical examination: alert and oriented, in no acute distress.',
 'Lungs are clear to auscultation bilaterally without wheezes or crackles.',
 'Heart: regular rate and rhythm, normal S1 and S2, no murmurs.',
 'Abdomen is soft, nontender, nondistended, with normal bowel sounds.',
 'Extremities show trace bilateral ankle edema, unchanged from the last visit.',
 'Neurological examination is nonfocal; strength 5/5 in all extremities.',
 'Laboratory results reviewed: hemoglobin 12.8 g/dL, creatinine 1.1 mg/dL, potassium 4.3 mmol/L.',
 'HbA1c was 7.4% three months ago.',
 'Current medications were reconciled and the list was updated.',
 'Metformin 1000 mg twice daily is continued; tolerating it well.',
 'Lisinopril dose was increased to 20 mg daily for blood pressure control.',
 'The patient was counseled on diet, exercise and smoking cessation.',
 'Influenza vaccine was administered in the left deltoid.',
 'Imaging: chest radiograph shows no acute cardiopulmonary process.',
 'CT of the abdomen and pelvis was reviewed with the patient.',
 'Performance status ECOG 1.',
 'Plan: continue current therapy and repeat labs in three months.',
 'Referral to physical therapy for gait training was placed.',
 'Follow-up appointment scheduled in four weeks, sooner if needed.',
 'Patient verbalized understanding of the plan and agrees with it.',
 'Pain is 3/10, controlled with acetaminophen as needed.',
 'Denies chest pain, palpitations or shortness of breath at rest.',
 'Mild nausea after chemotherapy, improved with ondansetron.',
 'Weight is stable compared with the previous visit.',
 'Daughter accompanies the patient and contributes to the history.',
 'Home glucose readings range from 110 to 160 mg/dL.',
 'Discussed the results of the echocardiogram: ejection fraction 55%.'
]) AS t;

-- the benchmark phrases in their contexts: (phrase id, context) -> sentence
CREATE TEMP TABLE note_mentions (phrase int, ctx int, txt text, PRIMARY KEY (phrase, ctx));
INSERT INTO note_mentions VALUES
 (0, 0, 'MRI of the brain shows multiple brain metastases, the largest 12 mm in the left frontal lobe.'),
 (0, 1, 'MRI of the brain: no evidence of brain metastases.'),
 (0, 2, 'Brain metastases were ruled out on the staging MRI.'),
 (0, 3, 'Possible brain metastases on CT; MRI recommended.'),
 (0, 4, 'Family history of brain metastases in her mother.'),
 (0, 5, 'Return to the emergency department if new headaches suggest brain metastases.'),
 (1, 0, 'History of pancreatitis in 2019, alcohol related.'),
 (1, 1, 'Lipase normal, no signs of pancreatitis.'),
 (1, 2, 'Pancreatitis has been ruled out.'),
 (1, 3, 'Epigastric pain, rule out pancreatitis.'),
 (1, 4, 'Father had pancreatitis.'),
 (1, 5, 'Call if abdominal pain suggests pancreatitis.'),
 (2, 0, 'Right lower lobe pneumonia treated with amoxicillin.'),
 (2, 1, 'Chest radiograph without pneumonia.'),
 (2, 2, 'Pneumonia is ruled out.'),
 (2, 3, 'Questionable pneumonia in the left base.'),
 (2, 4, 'Sister with recurrent pneumonia.'),
 (2, 5, 'Return if fever or cough suggest pneumonia.');

CREATE FUNCTION pg_temp.h(k bigint, salt bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT abs(hashint8extended(k, salt)) $$;

INSERT INTO public.notes
SELECT g.k AS note_id, g.p, g.t,
       (SELECT string_agg(np.txt, ' ' ORDER BY j)
          FROM generate_series(1, 8 + (pg_temp.h(g.k, 2) % 11)::int) j
          JOIN note_pool np ON np.id = (pg_temp.h(g.k * 64 + j, 3) % 32)::int)
       || coalesce(' ' || (SELECT m.txt FROM note_mentions m
                            WHERE m.phrase = (pg_temp.h(g.k, 4) % 3)::int
                              AND m.ctx = (pg_temp.h(g.k, 5) % 100)::int / 20 + (pg_temp.h(g.k, 5) % 100 >= 95)::int
                              AND pg_temp.h(g.k, 6) % 100 < 9), '')
  FROM (SELECT (p - 1) * :per_patient + n AS k, p,
               timestamptz '2026-11-01' - ((:per_patient - n) * 18 + pg_temp.h(p * 1000 + n, 1) % 17) * interval '1 day'
               - (pg_temp.h(p * 1000 + n, 7) % 600) * interval '1 minute' AS t
          FROM generate_series(1, :scale) p, generate_series(1, :per_patient) n) g;

CREATE INDEX notes_patient ON public.notes (patient_id);
ANALYZE public.notes;
SELECT count(*) AS notes, pg_size_pretty(sum(octet_length(body))) AS text,
       round(avg(octet_length(body))) AS avg_bytes,
       round(100.0 * count(*) FILTER (WHERE body LIKE '%brain metastases%') / count(*), 1) AS pct_brain_mets
  FROM public.notes;
