-- 0004_media: photos and voice clips, their derivatives, where they are attached, and
-- resumable (tus) uploads in progress.
--
-- media.public_id is what clients see (22 random base62 characters: not guessable); files are
-- content-addressed by SHA-256 under media.dir. A row exists only after every file of it is
-- on disk (file first, row second), so a crash leaves at most files without a row, which the
-- start-up sweep removes.
CREATE TABLE media (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  public_id CHAR(22) NOT NULL,
  kind ENUM('image','voice') NOT NULL,
  mime VARCHAR(32) NOT NULL,
  bytes BIGINT NOT NULL,
  sha_original CHAR(64) NOT NULL,
  sha_display CHAR(64) NULL,
  sha_thumb CHAR(64) NULL,
  upload_sha CHAR(64) NOT NULL,
  width INT NULL,
  height INT NULL,
  duration_ms INT NULL,
  taken_at DATETIME NULL,
  gps_lat DOUBLE NULL,
  gps_lng DOUBLE NULL,
  owner_id BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY media_public (public_id),
  KEY media_owner_upload (owner_id, upload_sha),
  KEY media_sha_original (sha_original),
  KEY media_sha_display (sha_display),
  KEY media_sha_thumb (sha_thumb)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- media_attachments: generic "media attached to an owner of some kind" (a case's report,
-- handling or verification photos; later a chat message). Reading media follows this.
CREATE TABLE media_attachments (
  media_id BIGINT NOT NULL,
  owner_type VARCHAR(16) NOT NULL,
  owner_id BIGINT NOT NULL,
  purpose VARCHAR(16) NOT NULL,
  position SMALLINT NOT NULL DEFAULT 0,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (owner_type, owner_id, media_id),
  KEY media_attachments_media (media_id),
  CONSTRAINT media_attachments_media_fk FOREIGN KEY (media_id) REFERENCES media (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- uploads: tus resumable uploads in progress; the bytes live in a temp file under media.dir.
CREATE TABLE uploads (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  public_id CHAR(22) NOT NULL,
  owner_id BIGINT NOT NULL,
  length BIGINT NOT NULL,
  offset_bytes BIGINT NOT NULL DEFAULT 0,
  kind ENUM('image','voice') NOT NULL,
  idem_key VARCHAR(64) NULL,
  media_id BIGINT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at DATETIME(3) NOT NULL,
  UNIQUE KEY uploads_public (public_id),
  UNIQUE KEY uploads_owner_key (owner_id, idem_key),
  KEY uploads_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
