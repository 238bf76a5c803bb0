# The NJ-LAB trial of test/omop/README.md worked out from the CSVs alone (no database):
#   cd /work/shared/data/synthea27nj/csv && awk -F, -f /work/main/test/omop/nj_trial_by_hand.awk person.csv measurement.csv
# person.csv first, then measurement.csv; as_of 2022-07-01, window from 2020-07-01
# measurement columns: 2 person_id, 3 concept, 5 measurement_datetime, 9 value, 11 unit_concept_id
FNR == 1 { file++; next }
file == 1 { split($6, d, /[- ]/); age = 2022 - d[1] - ((d[2] "-" d[3]) > "07-01"); adult[$1] = (age >= 18); n[$1] = 1; next }
$5 >= "2020-07-01" && $5 <= "2022-07-01 00:00:00" && $9 != "" {
    if ($3 == 3004410 && $11 == 8554 && ($5 > hat[$2] || ($5 == hat[$2] && $9 > h[$2]))) { hat[$2] = $5; h[$2] = $9 }
    if (($3 == 3051825 || $3 == 3016723) && $11 == 8840) { u = $9 * 88.42; if (!($2 in cr) || u > cr[$2]) cr[$2] = u }
}
END {
    for (p = 1; p <= 28; p++) {
        c1 = adult[p] ? "T" : "F"
        c2 = (p in h) ? (h[p] >= 6.0 ? "T" : "F") : "U"
        c3 = (p in cr) ? (cr[p] > 177 ? "T" : "F") : "U"
        s = (c1 == "F" || c2 == "F" || c3 == "T") ? "ineligible" : (c1 == "T" && c2 == "T" && c3 == "F") ? "eligible" : "indeterminate"
        printf "%2d adult=%s hba1c=%s(%s) creat_excl=%s(%s) %s\n", p, c1, c2, h[p], c3, cr[p], s
    }
}
