-- Exact duplicates on normalized text: rank copies of one conversation; rank 1 is kept.
-- The tie-break (source, file, line, locator) makes the kept copy deterministic.
SELECT
    p.*,
    row_number() OVER w AS dup_rank,
    first_value(p.pair_id) OVER w AS kept_pair_id,
    first_value(p.source) OVER w AS kept_source
FROM pairs AS p
WINDOW w AS (
    PARTITION BY p.norm_hash
    ORDER BY p.source, p.file, p.line NULLS LAST, p.locator
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
)
ORDER BY p.source, p.file, p.line NULLS LAST, p.locator
