-- 0018_pois: nearby services (便民服务) — public toilets, parking, refuse collection points and
-- the like, imported by admins (api/domain/poi.h).
--
-- lat/lng are WGS-84; pt is POINT(lng lat) like cases.pt, with a SPATIAL index for the nearby
-- search. source_ref is the source's own id: a row with one replaces the earlier row of the
-- same type and ref on a new import (NULL refs never collide).
CREATE TABLE pois (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  type VARCHAR(24) NOT NULL,
  name VARCHAR(128) NOT NULL,
  address VARCHAR(256) NULL,
  source_ref VARCHAR(64) NULL,
  lat DOUBLE NOT NULL CHECK (lat BETWEEN -90 AND 90),
  lng DOUBLE NOT NULL CHECK (lng BETWEEN -180 AND 180),
  pt POINT NOT NULL,
  active TINYINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  SPATIAL KEY pois_pt (pt),
  UNIQUE KEY pois_ref (type, source_ref),
  KEY pois_type (type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
