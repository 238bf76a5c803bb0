#!/usr/bin/env bash
# Prints SQL that registers N recruiting benchmark trials BT001..BTnnn
# (default 50) over the demo sources (scripts/demo_trials.sql registers
# them): ten disease shapes, like the demo trials and bench/sql, each in
# variants that differ in ages, windows and thresholds.  As in a real
# hospital, many criteria are said by several trials word for word (age >=
# 18, diagnosis 'E11%', pregnancy in the last 9 months, eGFR < 30 in the
# last year), others differ only by their threshold or window.
#
#   bash bench/match_all_trials.sh 50 | psql -d tm_200000
set -euo pipefail
n=${1:-50}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: match_all_trials.sh [ntrials]" >&2; exit 2; }

pick() { local i=$1; shift; local a=("$@"); echo "${a[$(( i % ${#a[@]} ))]}"; }

echo "BEGIN;"
echo "DELETE FROM trialmatch.criteria WHERE trial_id LIKE 'BT%';"
echo "DELETE FROM trialmatch.trials WHERE trial_id LIKE 'BT%';"
for ((k = 1; k <= n; k++)); do
    id=$(printf 'BT%03d' "$k")
    s=$(( (k - 1) % 10 ))
    v=$(( (k - 1) / 10 ))
    echo "INSERT INTO trialmatch.trials (trial_id, title, status) VALUES ('$id', 'benchmark trial $k (shape $s, variant $v)', 'recruiting');"
    crit=()
    case $s in
    0)  # type 2 diabetes
        crit+=("inclusion|Age|age between 18 and $(pick $v 75 70 80 65)")
        crit+=("inclusion|T2D|diagnosis 'E11%'")
        crit+=("inclusion|HbA1c|lab '4548-4' within $(pick $v 180 90 365) days last between 7.0 and $(pick $v 10.5 10 9.5 11)")
        crit+=("exclusion|Insulin|medication 'insulin%' within $(pick $v 90 180) days")
        crit+=("exclusion|eGFR|lab '33914-3' within 1 year last < $(pick $v 30 45)")
        crit+=("exclusion|T1D|diagnosis 'E10%'")
        [ $(( v % 3 )) = 1 ] && crit+=("inclusion|Two HbA1c|lab '4548-4' within 2 years count >= 2")
        ;;
    1)  # heart failure
        crit+=("inclusion|Adult|age >= 18")
        crit+=("inclusion|HF|diagnosis 'I50%'")
        crit+=("inclusion|NT-proBNP|lab '33762-6' within 1 year max > $(pick $v 400 600 300)")
        crit+=("inclusion|Loop diuretic|medication ('furosemide', 'bumetanide', 'torsemide') within 90 days")
        crit+=("exclusion|Potassium|lab '2823-3' within 90 days last > $(pick $v 5.5 5.0)")
        crit+=("exclusion|eGFR|lab '33914-3' within 1 year last < 30")
        ;;
    2)  # chronic kidney disease
        crit+=("inclusion|Adult|age >= 18")
        crit+=("inclusion|eGFR|lab '33914-3' within 180 days last between $(pick $v 15 20 25) and $(pick $v 60 59 45)")
        crit+=("inclusion|UACR|lab '14959-1' within 1 year last >= $(pick $v 30 200 300)")
        crit+=("exclusion|SGLT2|medication ('empagliflozin', 'dapagliflozin') within 90 days")
        crit+=("exclusion|Dialysis|diagnosis 'N18.6'")
        crit+=("exclusion|Pregnancy|diagnosis 'Z33.1' within 9 months")
        ;;
    3)  # hypertension in older adults
        crit+=("inclusion|Age|age >= $(pick $v 65 50 60 70)")
        crit+=("inclusion|HTN|diagnosis 'I10%'")
        crit+=("inclusion|Treated|medication ('lisinopril', 'amlodipine', 'losartan', 'hydrochlorothiazide', 'valsartan', 'chlorthalidone', 'olmesartan', 'ramipril') within 180 days")
        crit+=("exclusion|Creatinine|lab '2160-0' within 1 year last > $(pick $v 2.5 2.0) unit 'mg/dL'")
        crit+=("exclusion|HF|diagnosis 'I50%'")
        crit+=("exclusion|CKD|diagnosis 'N18%' within 2 years")
        [ $(( v % 2 )) = 1 ] && crit+=("inclusion|High SBP|lab '8480-6' within 180 days avg >= $(pick $v 140 130 150)")
        ;;
    4)  # early breast cancer
        crit+=("inclusion|Female|sex = 'F'")
        crit+=("inclusion|Age|age between 18 and $(pick $v 80 75 70)")
        crit+=("inclusion|Breast cancer|diagnosis 'C50%' within $(pick $v 5 3 2) years")
        crit+=("inclusion|Blood counts|lab '718-7' within 90 days last >= 9.0 and lab '777-3' within 90 days last >= 100")
        crit+=("exclusion|CDK4/6|medication ('palbociclib', 'ribociclib', 'abemaciclib')")
        crit+=("exclusion|Anti-HER2|medication ('trastuzumab', 'pertuzumab', 'ado-trastuzumab emtansine')")
        crit+=("exclusion|Pregnancy|diagnosis 'Z33.1' within 9 months")
        ;;
    5)  # asthma
        crit+=("inclusion|Age|age between $(pick $v 12 18) and 65")
        crit+=("inclusion|Asthma|diagnosis 'J45%' within 2 years")
        crit+=("inclusion|Controller|medication ('albuterol', 'montelukast', 'fluticasone') within 1 year")
        crit+=("exclusion|COPD|diagnosis 'J44%'")
        crit+=("exclusion|Steroids|medication 'prednisone' within $(pick $v 30 90) days")
        ;;
    6)  # depression
        crit+=("inclusion|Adult|age >= 18")
        crit+=("inclusion|Depression|diagnosis 'F32%' within 1 year")
        crit+=("exclusion|SSRI|medication ('sertraline', 'escitalopram', 'fluoxetine', 'citalopram') within $(pick $v 60 90) days")
        crit+=("exclusion|Pregnancy|diagnosis 'Z33.1' within 9 months")
        ;;
    7)  # atrial fibrillation
        crit+=("inclusion|Adult|age >= 18")
        crit+=("inclusion|AF|diagnosis 'I48%'")
        crit+=("exclusion|Anticoagulant|medication ('apixaban', 'rivaroxaban', 'warfarin', 'dabigatran') active")
        crit+=("exclusion|Anemia|lab '718-7' within 90 days last < $(pick $v 9 10)")
        crit+=("exclusion|eGFR|lab '33914-3' within 1 year last < 30")
        ;;
    8)  # obesity
        crit+=("inclusion|Adult|age >= 18")
        crit+=("inclusion|Obesity|diagnosis 'E66%'")
        crit+=("inclusion|BMI|lab '39156-5' within 1 year last >= $(pick $v 30 35 27)")
        crit+=("exclusion|T2D|diagnosis 'E11%'")
        crit+=("exclusion|GLP-1|medication ('semaglutide', 'liraglutide', 'dulaglutide') within 1 year")
        ;;
    9)  # hyperlipidemia
        crit+=("inclusion|Age|age between 40 and $(pick $v 80 75)")
        crit+=("inclusion|Lipids|diagnosis 'E78%'")
        crit+=("inclusion|LDL|lab '13457-7' within 1 year last >= $(pick $v 100 130 160 190)")
        crit+=("exclusion|Statin|medication ('atorvastatin', 'rosuvastatin') within 90 days")
        crit+=("exclusion|T2D|diagnosis 'E11%'")
        ;;
    esac
    pos=0
    for c in "${crit[@]}"; do
        pos=$(( pos + 1 ))
        IFS='|' read -r kind label expr <<< "$c"
        printf "INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES ('%s', %d, '%s', '%s', \$x\$%s\$x\$);\n" \
            "$id" "$pos" "$kind" "$label" "$expr"
    done
done
echo "COMMIT;"
