-- 0029_eval_marks_scope: the 考评 drill-down of a leader below the city (a district or street
-- scope) reads the subject's marks of its regions and period only. With 0014's index alone it
-- walked every mark of the subject newest first and looked each up to test its region: for a
-- busy inspector (29,000 marks in a year) seen from a district holding none of them, 400-500 ms
-- a request at 1,000,000 cases (docs/benchmarks.md). ok is in the index so "failed only" is
-- decided on the index entry.
ALTER TABLE eval_marks ADD KEY eval_marks_subject_scope (subject_type, subject_id, region_id, day, ok);
