-- 0006_media_more: what the media API needs beyond 0004.
--
-- A retried upload must map to one row even when two copies race: the (owner, content hash)
-- key becomes unique, and the loser of the race reads the winner's row.
ALTER TABLE media DROP INDEX media_owner_upload,
  ADD UNIQUE KEY media_owner_upload (owner_id, upload_sha);

-- A tus upload's kind is known only once its first bytes arrive (magic bytes, never the
-- client's Upload-Metadata), so it is NULL from creation until then.
ALTER TABLE uploads MODIFY kind ENUM('image','voice') NULL;
