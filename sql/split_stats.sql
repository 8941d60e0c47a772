-- Pairs per split and stratum, the copies training sees once up-sampling repeats are counted, and the share of
-- each split that a stratum takes.
SELECT
    split,
    domain,
    task_type,
    difficulty,
    count(*) AS pairs,
    sum(repeats) AS copies,
    count(*) FILTER (WHERE is_augmented) AS augmented,
    round(count(*) * 1.0 / sum(count(*)) OVER (PARTITION BY split), 4) AS share_of_split
FROM splits
GROUP BY split, domain, task_type, difficulty
ORDER BY split, pairs DESC, domain, task_type, difficulty
