-- 0026_confirm_limit: the 核实时限 of a category. The 受理员 may send a citizen's or hotline
-- report to an inspector for 核实 (workflow action request_confirmation, state confirming);
-- the inspector confirms or denies it within this many working minutes (natural minutes for
-- urgent cases, like the other minute limits). 按时核实率 (eval indicator on_time_verify) is
-- measured against it. No city figure in the notes; 30 working minutes, as 立案 and 派遣.
ALTER TABLE categories
  ADD COLUMN limit_confirm_min INT NOT NULL DEFAULT 30 COMMENT '核实时限, working minutes'
    AFTER limit_close_min,
  ADD CONSTRAINT ck_categories_confirm_limit CHECK (limit_confirm_min > 0);
