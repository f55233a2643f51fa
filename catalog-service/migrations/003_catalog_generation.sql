-- The catalog's generation: one row whose counter every catalog write raises in its own
-- transaction. Each catalog-service instance polls it and drops its read cache when it changed
-- (README "Catalog read cache").
CREATE TABLE catalog_generation (
    id         TINYINT NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
) ENGINE=InnoDB;
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
