-- 0014_eval_marks_newest: the 考评 drill-down lists a subject's marks newest first (over every
-- indicator, or only the failed ones); walking this index from the newest id stops after one
-- page instead of sorting all of a busy inspector's marks of the period.
ALTER TABLE eval_marks ADD KEY eval_marks_subject_newest (subject_type, subject_id, id);
