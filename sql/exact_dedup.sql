-- Exact duplicates on the dedup key (normalized conversation, folded for case and whitespace by default), over
-- the rows whose key occurs more than once (cleaning.clean_parquet keeps the others as they are):
-- rank copies of one conversation; rank 1 is kept. The kept copy is the best by the stated preference
-- (cleaning._PREFERENCE: complete ending, not lower-cased, less noise, longer), then the first in source
-- order (source, file, line, locator), which also makes it deterministic.
SELECT
    p.*,
    row_number() OVER w AS dup_rank,
    first_value(p.pair_id) OVER w AS kept_pair_id,
    first_value(p.source) OVER w AS kept_source
FROM pairs AS p
WINDOW w AS (
    PARTITION BY p.norm_hash
    ORDER BY p.q_complete DESC, p.q_cased DESC, p.q_noise, p.chars DESC,
             p.source, p.file, p.line NULLS LAST, p.locator
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
)
ORDER BY p.source, p.file, p.line NULLS LAST, p.locator
