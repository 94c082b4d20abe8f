-- A database of a few thousand rows built and queried by sqlite3 for
-- bench/preload-check.sh. Deterministic: no random(), no dates.
PRAGMA cache_size = 200;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
INSERT INTO item SELECT i, printf('item-%05d', i), i % 37, (i * 7919 % 10007) / 100.0,
    substr(replace(hex(zeroblob(i % 200 + 1)), '00', 'ab'), 1, i % 300 + 1) FROM n;
CREATE INDEX item_grp ON item(grp, price);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 36)
INSERT INTO grp SELECT i, 'group ' || i FROM n;
UPDATE item SET note = note || name WHERE id % 5 = 0;
DELETE FROM item WHERE id % 11 = 0;
SELECT count(*), sum(length(note)), round(sum(price), 2) FROM item;
SELECT g.label, count(*), round(avg(i.price), 3), max(i.name)
    FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY g.id;
SELECT name, price FROM item WHERE grp = 5 ORDER BY price DESC, id LIMIT 10;
SELECT group_concat(name, ';') FROM (SELECT name FROM item WHERE id % 97 = 0 ORDER BY name);
VACUUM;
PRAGMA integrity_check;
