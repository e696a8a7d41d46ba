-- A state database as alertd wrote it at schema version 2 (commit 8e41354): store_v1.sql opened by that
-- version's store (which upgraded it), then dumped as SQL. Its feeds have polled: an upgrade to version 3 must not
-- turn their next poll into backlog. tests/store/test_store_migration.py opens it with the current alertd.
BEGIN TRANSACTION;
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    finding TEXT NOT NULL REFERENCES findings (key),
    establishment TEXT NOT NULL,
    severity INTEGER NOT NULL,
    subscription TEXT NOT NULL,
    immediate INTEGER NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL,
    delivery INTEGER REFERENCES outbox (id)
);
INSERT INTO "alerts" VALUES(1,'2fab774d0bc9c4de361a5bb9aca3fc9b','330781196',4,'imminent-everyone',1,'{"finding": {"establishment": "330781196", "indicator": ["ipv4", "147.210.1.5"], "asset": "147.210.0.0/16", "reason": "address-in-network", "feed": "feodo", "kind": "compromise", "entry": "feodo:147.210.1.5", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {"malware": "QakBot", "port": "443"}}, "severity": "imminent", "rule": "compromise reported", "subscription": "imminent-everyone", "immediate": true, "first_seen": "2025-03-11T13:05:00.000000+00:00", "last_seen": "2025-03-12T13:05:00.000000+00:00", "tlp": "amber", "follow_up": false}','2026-11-28T10:00:00.000000+00:00',1);
INSERT INTO "alerts" VALUES(2,'3cc467510a6a54ac59a5d188768f080a','330781196',2,'imminent-everyone',1,'{"finding": {"establishment": "330781196", "indicator": ["domain", "vpn.chu-bordeaux.example"], "asset": "chu-bordeaux.example", "reason": "domain", "feed": "feodo", "kind": "compromise", "entry": "feodo:vpn.chu-bordeaux.example", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}, "severity": "high", "rule": "compromise reported", "subscription": "imminent-everyone", "immediate": true, "first_seen": "2025-03-11T13:05:00.000000+00:00", "last_seen": "2025-03-12T13:05:00.000000+00:00", "tlp": "amber", "follow_up": false}','2026-11-28T10:00:00.000000+00:00',3);
INSERT INTO "alerts" VALUES(3,'c9aaffffbfc4f9b8d2992567a43f1b72','330781196',3,'imminent-everyone',1,'{"finding": {"establishment": "330781196", "indicator": ["cve", "CVE-2023-4966"], "asset": "Citrix NetScaler ADC 13.1-49.13", "reason": "kev-product", "feed": "nvd", "kind": "vulnerability", "entry": "nvd:CVE-2023-4966", "title": "Citrix Bleed", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}, "severity": "critical", "rule": "CVSS 9.4 >= 7", "subscription": "imminent-everyone", "immediate": true, "first_seen": "2025-03-11T13:05:00.000000+00:00", "last_seen": "2025-03-12T13:05:00.000000+00:00", "tlp": "amber", "follow_up": false}','2026-11-28T10:00:00.000000+00:00',1);
INSERT INTO "alerts" VALUES(4,'9fd7aac61bdeb678d617b7a5ebebfa76','330781196',1,'hospitals-daily',0,'{"finding": {"establishment": "330781196", "indicator": ["ipv4", "147.210.9.9"], "asset": "147.210.0.0/16", "reason": "address-in-network", "feed": "feodo", "kind": "compromise", "entry": "feodo:147.210.9.9", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}, "severity": "info", "rule": "matched, no higher rule applies", "subscription": "hospitals-daily", "immediate": false, "first_seen": "2025-03-11T13:05:00.000000+00:00", "last_seen": "2025-03-12T13:05:00.000000+00:00", "tlp": "amber", "follow_up": false}','2026-11-28T10:00:00.000000+00:00',NULL);
CREATE TABLE feed_state (
    feed TEXT PRIMARY KEY,
    etag TEXT, last_modified TEXT,
    last_attempt TEXT, last_success TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    entries_seen INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "feed_state" VALUES('nvd','"v7"','Fri, 27 Nov 2026 10:00:00 GMT','2026-11-27T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00',0,NULL,1);
INSERT INTO "feed_state" VALUES('feodo',NULL,NULL,'2026-11-27T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00',0,NULL,1);
INSERT INTO "feed_state" VALUES('certfr',NULL,NULL,'2026-11-28T11:00:00.000000+00:00',NULL,1,'HTTP 503 from https://www.cert.ssi.gouv.fr/',0);
CREATE TABLE findings (
    key TEXT PRIMARY KEY,
    establishment TEXT NOT NULL, body TEXT NOT NULL,
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    last_alerted TEXT, thread TEXT,
    resolved_at TEXT,  -- its entry was delisted by the feed
    resolved_told TEXT  -- when an email said so
, resolution TEXT);
INSERT INTO "findings" VALUES('2fab774d0bc9c4de361a5bb9aca3fc9b','330781196','{"establishment": "330781196", "indicator": ["ipv4", "147.210.1.5"], "asset": "147.210.0.0/16", "reason": "address-in-network", "feed": "feodo", "kind": "compromise", "entry": "feodo:147.210.1.5", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {"malware": "QakBot", "port": "443"}}','feodo','feodo:147.210.1.5','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00','<alertd.330781196.0123456789abcdef@cert-sante.example>',NULL,NULL,NULL);
INSERT INTO "findings" VALUES('3cc467510a6a54ac59a5d188768f080a','330781196','{"establishment": "330781196", "indicator": ["domain", "vpn.chu-bordeaux.example"], "asset": "chu-bordeaux.example", "reason": "domain", "feed": "feodo", "kind": "compromise", "entry": "feodo:vpn.chu-bordeaux.example", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}','feodo','feodo:vpn.chu-bordeaux.example','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00','2026-11-28T11:30:00.000000+00:00','<alertd.330781196.00000000000000aa@cert-sante.example>',NULL,NULL,NULL);
INSERT INTO "findings" VALUES('c9aaffffbfc4f9b8d2992567a43f1b72','330781196','{"establishment": "330781196", "indicator": ["cve", "CVE-2023-4966"], "asset": "Citrix NetScaler ADC 13.1-49.13", "reason": "kev-product", "feed": "nvd", "kind": "vulnerability", "entry": "nvd:CVE-2023-4966", "title": "Citrix Bleed", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}','nvd','nvd:CVE-2023-4966','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00','<alertd.330781196.0123456789abcdef@cert-sante.example>',NULL,NULL,NULL);
INSERT INTO "findings" VALUES('9fd7aac61bdeb678d617b7a5ebebfa76','330781196','{"establishment": "330781196", "indicator": ["ipv4", "147.210.9.9"], "asset": "147.210.0.0/16", "reason": "address-in-network", "feed": "feodo", "kind": "compromise", "entry": "feodo:147.210.9.9", "title": "Botnet C2 server", "link": "https://feodotracker.abuse.ch/browse/", "published": "2025-03-10T13:05:00+00:00", "attrs": {}}','feodo','feodo:147.210.9.9','2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:00.000000+00:00',NULL,NULL,NULL,NULL,NULL);
CREATE TABLE knowledge (
    cve TEXT NOT NULL, feed TEXT NOT NULL, entry TEXT NOT NULL,
    body TEXT NOT NULL,  -- the statement (codecs.statement_to_json)
    updated TEXT NOT NULL,  -- when the source last said something new of it
    PRIMARY KEY (cve, feed, entry)
);
INSERT INTO "knowledge" VALUES('CVE-2020-0001','nvd','CVE-2020-0001','{"cvss": null, "epss": null, "exploited": false, "products": [["acme", "widget", [["1.0", null, null, null, null]]]]}','2026-11-26T12:00:00.000000+00:00');
INSERT INTO "knowledge" VALUES('CVE-2023-4966','nvd','CVE-2023-4966','{"cvss": "9.4", "epss": null, "exploited": true, "products": [["citrix", "netscaler_adc", [[null, "13.1", null, null, "13.1-49.15"], ["14.1-8.50", null, null, null, null]]], ["citrix", "netscaler_gateway", []]]}','2026-11-27T12:00:00.000000+00:00');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema_version','2');
INSERT INTO "meta" VALUES('digest:hospitals-daily','2026-11-27T12:00:00+00:00');
INSERT INTO "meta" VALUES('notice:feed-failing:certfr','2026-11-28');
CREATE TABLE observations (
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    digest TEXT NOT NULL, body TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, delisted_at TEXT,
    PRIMARY KEY (feed, entry)
);
INSERT INTO "observations" VALUES('nvd','CVE-2023-4966','6d41ba8af0b374fe13fc3827fdfa36424dc21e89be2c12df893abe4333c4d603','{"attrs": {"cvss": "9.4"}, "entry": "CVE-2023-4966", "exploited": true, "feed": "nvd", "indicators": [["cve", "CVE-2023-4966"]], "kind": "vulnerability", "link": "https://nvd.nist.gov/vuln/detail/CVE-2023-4966", "products": [["citrix", "netscaler_adc", [[null, "13.1", null, null, "13.1-49.15"], ["14.1-8.50", null, null, null, null]]], ["citrix", "netscaler_gateway", []]], "published": "2025-10-24T12:00:00+00:00", "text": "Sensitive information disclosure — « NetScaler »", "title": "Citrix Bleed"}','2026-11-26T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('nvd','CVE-2020-0001','64739add7fd447950d946b617ca569bf092c5d72b95daa85aadd7259560db13d','{"attrs": {}, "entry": "CVE-2020-0001", "exploited": false, "feed": "nvd", "indicators": [["cve", "CVE-2020-0001"]], "kind": "vulnerability", "link": null, "products": [["acme", "widget", [["1.0", null, null, null, null]]]], "published": null, "text": "", "title": "Old one"}','2026-11-26T12:00:00.000000+00:00','2026-11-26T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00');
INSERT INTO "observations" VALUES('certfr','CERTFR-2023-AVI-0001','cc4038ee9850eec17665fb3f1557f96b33a25980a5ef72dc270571bcddc4d509','{"attrs": {}, "entry": "CERTFR-2023-AVI-0001", "exploited": false, "feed": "certfr", "indicators": [["cve", "CVE-2023-4966"]], "kind": "advisory", "link": "https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0001/", "products": [], "published": "2026-02-01T12:00:00+00:00", "text": "Une vulnérabilité a été découverte", "title": "Vulnérabilité dans Citrix"}','2026-11-27T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','feodo:147.210.1.5','6a6006d3a854044fbe9104369db83558d3cc0836003dd5aa4997954e6703789a','{"attrs": {"malware": "QakBot"}, "entry": "feodo:147.210.1.5", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "147.210.1.5"]], "kind": "compromise", "link": "https://feodotracker.abuse.ch/browse/", "products": [], "published": "2026-11-26T12:00:00+00:00", "text": "", "title": "Botnet C2 server"}','2026-11-27T12:00:00.000000+00:00','2026-11-27T12:00:00.000000+00:00',NULL);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    establishment TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    message BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error TEXT,
    created TEXT NOT NULL,
    sent_at TEXT
);
INSERT INTO "outbox" VALUES(1,'<alertd.330781196.0123456789abcdef@cert-sante.example>','330781196','alertes@cert-sante.example','["rssi@chu-bordeaux.example"]','[CERT Santé] 2 alertes',X'5375626A6563743A203220616C65727465730D0A0D0A626F64790D0A','sent',1,'2026-11-28T10:00:00.000000+00:00',NULL,'2026-11-28T10:00:00.000000+00:00','2026-11-28T10:00:03.000000+00:00');
INSERT INTO "outbox" VALUES(2,'<alertd.operators.fedcba9876543210@cert-sante.example>','(operators)','alertes@cert-sante.example','["soc@cert-sante.example"]','[alertd] 1 problem',X'5375626A6563743A20312070726F626C656D0D0A0D0A666565640D0A','failed',1,'2026-11-28T11:00:00.000000+00:00','550 5.1.1 no such user','2026-11-28T11:00:00.000000+00:00',NULL);
INSERT INTO "outbox" VALUES(3,'<alertd.330781196.00000000000000aa@cert-sante.example>','330781196','alertes@cert-sante.example','["rssi@chu-bordeaux.example"]','[CERT Santé] 1 alerte',X'5375626A6563743A203120616C657274650D0A0D0A6376650D0A','pending',1,'2026-11-28T11:55:00.000000+00:00','421 try later','2026-11-28T11:30:00.000000+00:00',NULL);
CREATE INDEX findings_entry ON findings (feed, entry);
CREATE INDEX findings_establishment ON findings (establishment);
CREATE INDEX alerts_queued ON alerts (delivery, establishment);
CREATE INDEX outbox_due ON outbox (state, next_attempt);
CREATE INDEX outbox_message ON outbox (message_id);
COMMIT;
