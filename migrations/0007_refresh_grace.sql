-- refresh_tokens.successor: the token a rotation issued, sealed under a key derived from the
-- rotated token itself (only its holder can open it; the table keeps only SHA-256 of tokens).
-- It lets a retry within auth.refresh_reuse_grace_s get the same answer again (issue 17 item 16).
ALTER TABLE refresh_tokens ADD COLUMN successor CHAR(43) NULL AFTER used_at;
