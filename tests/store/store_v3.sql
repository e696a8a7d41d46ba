-- A state database as alertd wrote it at schema version 3 (commit 977b676): the Feodo Tracker sample of
-- tests/data/abusech (feodotracker_ipblocklist_2024-04-04.csv, every column mapped) stored by that version's poll
-- path (csvfeed.read, each entry's JSON), then dumped as SQL. tests/match/test_batch_store.py opens it with the
-- current alertd.
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
    delivery INTEGER REFERENCES outbox (id),
    inventory INTEGER NOT NULL DEFAULT 0  -- backlog, told in the establishment's inventory email
);
CREATE TABLE feed_state (
    feed TEXT PRIMARY KEY,
    etag TEXT, last_modified TEXT,
    last_attempt TEXT, last_success TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    entries_seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE findings (
    key TEXT PRIMARY KEY,
    establishment TEXT NOT NULL, body TEXT NOT NULL,
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    last_alerted TEXT, thread TEXT,
    resolved_at TEXT,  -- its entry was delisted by the feed, or it was withdrawn
    resolved_told TEXT,  -- when an email said so
    resolution TEXT  -- NULL when delisted, else the VersionBasis it was withdrawn for ("fixed-version")
);
CREATE TABLE knowledge (
    cve TEXT NOT NULL, feed TEXT NOT NULL, entry TEXT NOT NULL,
    body TEXT NOT NULL,  -- the statement (codecs.statement_to_json)
    updated TEXT NOT NULL,  -- when the source last said something new of it
    PRIMARY KEY (cve, feed, entry)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema_version','3');
INSERT INTO "meta" VALUES('store_id','b1cdda7a8b25652d');
INSERT INTO "meta" VALUES('store_created','2026-12-02T13:07:29.226489+00:00');
CREATE TABLE observations (
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    digest TEXT NOT NULL, body TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, delisted_at TEXT,
    PRIMARY KEY (feed, entry)
);
INSERT INTO "observations" VALUES('feodo','8384b27060cf6d543d94adf56d2dd095','6cbdef67e2f7a2f56abb99457536a424b43392c30780e42f1f57f75066019914','{"attrs": {"last_seen": "2024-04-01", "malware": "Pikabot", "port": "1194", "status": "online"}, "entry": "8384b27060cf6d543d94adf56d2dd095", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "192.9.135.73"]], "kind": "compromise", "link": null, "products": [], "published": "2023-05-23T17:51:44+00:00", "text": "", "title": "Pikabot 192.9.135.73:1194"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','7b8f1ca447912e9d12d9e635eeabe9dd','090b420488e3ab28b60f15f73e4dd6c9c933185d97462c2c81bd614e52add650','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "5000", "status": "offline"}, "entry": "7b8f1ca447912e9d12d9e635eeabe9dd", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "85.239.243.155"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-08T19:20:49+00:00", "text": "", "title": "Pikabot 85.239.243.155:5000"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','1c14171804b80c1d76ee459868a052a2','707bfd9b5e1794b49ccb24eac5790f4ddf147c3d50d1ab9eef55880775b81dcf','{"attrs": {"last_seen": "2024-03-04", "malware": "Pikabot", "port": "9785", "status": "offline"}, "entry": "1c14171804b80c1d76ee459868a052a2", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "37.60.242.85"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-08T19:50:53+00:00", "text": "", "title": "Pikabot 37.60.242.85:9785"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','bb06558ef240f04d05e89a8adc88969f','76c10059be5648b41c382f1c72e45af1f1d906114084d8bb57e7d6fe3ae17a3d','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "2078", "status": "offline"}, "entry": "bb06558ef240f04d05e89a8adc88969f", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "178.18.246.136"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-09T06:56:00+00:00", "text": "", "title": "Pikabot 178.18.246.136:2078"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','7bb72de17949e19b960e0f2652ff5903','23b52443fb2994f2594f5895b8aa3d2f878c58c08c448b71955fa858a438d401','{"attrs": {"last_seen": "2024-03-09", "malware": "Pikabot", "port": "2083", "status": "offline"}, "entry": "7bb72de17949e19b960e0f2652ff5903", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "23.226.138.143"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-09T16:29:51+00:00", "text": "", "title": "Pikabot 23.226.138.143:2083"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','b71b95c96dd472f553fadab085db502e','78a04039f93f3ea7f271bf292611ebd46ddbe19f9c380b617ba212219e3a7be5','{"attrs": {"last_seen": "2024-03-09", "malware": "Pikabot", "port": "5242", "status": "offline"}, "entry": "b71b95c96dd472f553fadab085db502e", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "23.226.138.161"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-09T16:29:53+00:00", "text": "", "title": "Pikabot 23.226.138.161:5242"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','4a51b6fde70adb9bdddf3b1bf588e187','98f084b3882bcd65f7c76bd34b9930f7c968954762572ef8eb1cbb3a3bf750a1','{"attrs": {"last_seen": "2024-03-09", "malware": "Pikabot", "port": "2221", "status": "offline"}, "entry": "4a51b6fde70adb9bdddf3b1bf588e187", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "86.38.225.106"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-12T13:50:35+00:00", "text": "", "title": "Pikabot 86.38.225.106:2221"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','604d50a149aa38f67bf89a0c587d0838','9cc5035cc582c6b5ee9ea6992ef10a9c4c48af9987e0b0c33817765399d05695','{"attrs": {"last_seen": "2024-03-09", "malware": "Pikabot", "port": "13783", "status": "offline"}, "entry": "604d50a149aa38f67bf89a0c587d0838", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "104.129.55.106"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-13T22:11:18+00:00", "text": "", "title": "Pikabot 104.129.55.106:13783"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','eefb0d202c5840a5756f937199e8921f','06d5e723844c7d6a8661890aa898a41f659cfb326d918e8e21c6b30d54a66f49','{"attrs": {"last_seen": "2024-03-27", "malware": "Pikabot", "port": "13785", "status": "offline"}, "entry": "eefb0d202c5840a5756f937199e8921f", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "103.82.243.5"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-13T22:11:26+00:00", "text": "", "title": "Pikabot 103.82.243.5:13785"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','2b5c0a951633118fe4e2a24926fd3288','d38c957d377d84e284f60236588642a42d130789c8c286654b59df54e054dc28','{"attrs": {"last_seen": "2024-03-09", "malware": "Pikabot", "port": "2223", "status": "offline"}, "entry": "2b5c0a951633118fe4e2a24926fd3288", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "104.129.55.105"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-13T22:11:28+00:00", "text": "", "title": "Pikabot 104.129.55.105:2223"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','332a475c405289817201c23379b93dbd','85fc2a543aae1b4e2444e3cd969f17ffeb6df5b3a8f78bf5d70101a91ffaad8c','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "5000", "status": "offline"}, "entry": "332a475c405289817201c23379b93dbd", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "154.12.248.41"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-19T16:12:15+00:00", "text": "", "title": "Pikabot 154.12.248.41:5000"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','85a664a7fbb127dd12da79207476ca0c','39e60c59348fa8965060827f3e1b2e87f4e517d50e12cd6d728c1d04a14c21aa','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "5632", "status": "offline"}, "entry": "85a664a7fbb127dd12da79207476ca0c", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "89.117.23.186"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-19T16:12:18+00:00", "text": "", "title": "Pikabot 89.117.23.186:5632"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','18766f84572e6cd18680594c6b22869c','72e6bd81c062225354f027b0e482e863b78b0adc7b406f79c55cac6d8b59525b','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "2224", "status": "offline"}, "entry": "18766f84572e6cd18680594c6b22869c", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "154.12.233.66"]], "kind": "compromise", "link": null, "products": [], "published": "2024-02-19T16:12:23+00:00", "text": "", "title": "Pikabot 154.12.233.66:2224"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','796553b1e05cb4db5942920b4cee2af1','e845035f8370b4d9ba7d85eb92fe4b19f7e62f08abf30fc5b6a89293f44183ee','{"attrs": {"last_seen": "2024-03-06", "malware": "Pikabot", "port": "2083", "status": "offline"}, "entry": "796553b1e05cb4db5942920b4cee2af1", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "84.46.240.42"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-05T19:51:19+00:00", "text": "", "title": "Pikabot 84.46.240.42:2083"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','841ca733ded06e23143447dadb1c3538','a9108eda9c96589d078c9811e800c511946b16ab7e2e19d9b537de839bca4853','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "1194", "status": "offline"}, "entry": "841ca733ded06e23143447dadb1c3538", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "209.126.86.48"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T07:52:18+00:00", "text": "", "title": "Pikabot 209.126.86.48:1194"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','46587de3d9a6c86cc042ba37399bb4f2','7f55f7894db91fe4ddd440d4efe02330b120c4c0599e0ba40743406766999437','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "13786", "status": "offline"}, "entry": "46587de3d9a6c86cc042ba37399bb4f2", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "154.12.236.248"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T16:32:33+00:00", "text": "", "title": "Pikabot 154.12.236.248:13786"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','7aed3347f91e92637fb4810dbbf7e3a4','40207a41357559009e013bb5d4da4413e1a7e978ba287c93e703629bdd715cfe','{"attrs": {"last_seen": "2024-03-17", "malware": "Pikabot", "port": "13724", "status": "offline"}, "entry": "7aed3347f91e92637fb4810dbbf7e3a4", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "94.72.104.77"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T16:33:55+00:00", "text": "", "title": "Pikabot 94.72.104.77:13724"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','eaa41ba3211c209d641527fd7e117de4','1e3fcacf42cd05507c1e1997f803f0c14cbff3347b7202db355cb609421decae','{"attrs": {"last_seen": "2024-03-11", "malware": "Pikabot", "port": "13783", "status": "offline"}, "entry": "eaa41ba3211c209d641527fd7e117de4", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "154.53.55.165"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T16:33:59+00:00", "text": "", "title": "Pikabot 154.53.55.165:13783"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','02b967bb3c214114e282fc99a85727aa','7701af0ca1a02ae5782a2e64c8602b8a278f79f7cf75af5bd5f8f2d1e62b1239','{"attrs": {"last_seen": "2024-03-17", "malware": "Pikabot", "port": "5000", "status": "offline"}, "entry": "02b967bb3c214114e282fc99a85727aa", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "94.72.104.80"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T16:34:43+00:00", "text": "", "title": "Pikabot 94.72.104.80:5000"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','968c91760fcba7c8b72f37446ca9cb8b','1ea91a121d9b366f373e80a4c580751f0d3cce37855bc2654ed17dc2bbf80eaa','{"attrs": {"last_seen": "2024-03-08", "malware": "Pikabot", "port": "2224", "status": "offline"}, "entry": "968c91760fcba7c8b72f37446ca9cb8b", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "198.38.94.213"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-06T16:34:45+00:00", "text": "", "title": "Pikabot 198.38.94.213:2224"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','5a7b76645f7516d6a17699932798f234','c2220138f5ea094cdfea8cb48d0d9ffecc37fb7044ff37f18092b9e10ccdc51e','{"attrs": {"last_seen": "2024-04-02", "malware": "Pikabot", "port": "5243", "status": "offline"}, "entry": "5a7b76645f7516d6a17699932798f234", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "158.220.95.214"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:03+00:00", "text": "", "title": "Pikabot 158.220.95.214:5243"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','c506d323ec0da1839e30e8a87c9a47ca','92d9b7b4a9be7d2c4c99fa29ce2bdfad127c7a679aeb4852e88beec22b3ba3e5','{"attrs": {"last_seen": "2024-03-27", "malware": "Pikabot", "port": "1194", "status": "offline"}, "entry": "c506d323ec0da1839e30e8a87c9a47ca", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "64.23.199.206"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:06+00:00", "text": "", "title": "Pikabot 64.23.199.206:1194"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','33243394acbf94e4117101dac93d71ba','54caf35777c920febf4b49ec36c1078dfb2b1ac456b589fba2d44a370e16aaa7','{"attrs": {"last_seen": "2024-03-29", "malware": "Pikabot", "port": "2223", "status": "offline"}, "entry": "33243394acbf94e4117101dac93d71ba", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "172.232.208.90"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:07+00:00", "text": "", "title": "Pikabot 172.232.208.90:2223"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','b1e4f42184ed24860946d7ef3a6fc9b5','55062589eeb68ab680095272af6632cd8f1160ab2bce25d84c3f8e8c32e483a2','{"attrs": {"last_seen": "2024-04-04", "malware": "Pikabot", "port": "13721", "status": "online"}, "entry": "b1e4f42184ed24860946d7ef3a6fc9b5", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "213.199.41.33"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:07+00:00", "text": "", "title": "Pikabot 213.199.41.33:13721"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','87a398733725f79f369b1ea664eef59b','928eccbdfe9c3dabcca8d340e07f0c95233c0706e05878fde9b25abe0a920289','{"attrs": {"last_seen": "2024-04-04", "malware": "Pikabot", "port": "5000", "status": "online"}, "entry": "87a398733725f79f369b1ea664eef59b", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "194.233.91.144"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:11+00:00", "text": "", "title": "Pikabot 194.233.91.144:5000"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','236e2d7196df5460e74d2de34c009f9c','b75e37a1b2443b5a9ac7eb64d2f59f893d47b8beeb6f09c70410b91aaed9c7ac','{"attrs": {"last_seen": "2024-03-27", "malware": "Pikabot", "port": "5242", "status": "offline"}, "entry": "236e2d7196df5460e74d2de34c009f9c", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "158.220.95.215"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:12+00:00", "text": "", "title": "Pikabot 158.220.95.215:5242"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','9936a4b8037f33534e160883bdd80b6c','1b25abb461969fd8db2397da849b7dcd64826d4ac0121bf34b7fc4745403ba48','{"attrs": {"last_seen": "2024-04-04", "malware": "Pikabot", "port": "13783", "status": "online"}, "entry": "9936a4b8037f33534e160883bdd80b6c", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "84.247.157.112"]], "kind": "compromise", "link": null, "products": [], "published": "2024-03-26T23:30:15+00:00", "text": "", "title": "Pikabot 84.247.157.112:13783"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
INSERT INTO "observations" VALUES('feodo','517346d2d7abffc8a41b882fe9fb09e9','54897bfe953a4047cdb7bc4d9b7e814d5f008d6d749ab65f06510256c946f0e9','{"attrs": {"last_seen": "2024-04-04", "malware": "Pikabot", "port": "5938", "status": "offline"}, "entry": "517346d2d7abffc8a41b882fe9fb09e9", "exploited": false, "feed": "feodo", "indicators": [["ipv4", "172.233.221.61"]], "kind": "compromise", "link": null, "products": [], "published": "2024-04-04T07:03:03+00:00", "text": "", "title": "Pikabot 172.233.221.61:5938"}','2026-11-28T12:00:00.000000+00:00','2026-11-28T12:00:00.000000+00:00',NULL);
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
    sent_at TEXT,
    reference TEXT  -- the CERT's reference of the email (CERTSANTE-2026-ALE-0042)
);
CREATE TABLE refs (
    series TEXT NOT NULL, year INTEGER NOT NULL,
    last INTEGER NOT NULL,  -- the last number handed out
    PRIMARY KEY (series, year)
);
CREATE TABLE scope (
    key TEXT PRIMARY KEY,  -- est:<id>, asset:<id>:<asset>, sub:<name>
    since TEXT NOT NULL  -- when a poll first saw it in the configuration
);
CREATE INDEX findings_entry ON findings (feed, entry);
CREATE INDEX findings_establishment ON findings (establishment);
CREATE INDEX alerts_queued ON alerts (delivery, establishment);
CREATE INDEX alerts_finding ON alerts (finding, id);
CREATE INDEX outbox_due ON outbox (state, next_attempt);
CREATE INDEX outbox_message ON outbox (message_id);
COMMIT;
