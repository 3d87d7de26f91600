PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  version TEXT NOT NULL,
  capabilities BLOB NOT NULL,
  peer TEXT NOT NULL,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL
);
INSERT INTO agents VALUES('h1','{"dc":"lab","rack":"r1"}','0.1.0',X'0a10362e31382e34342d66632d763130393812070a037463781001120c0a087864705f6c696e6b1001120f0a0b6367726f75705f6c696e6b1001123e0a0a7472616365706f696e7410011a2e74726163656673206e6f74206d6f756e7465642079657420286d6f756e746564206f6e206669727374207573652912270a0b73656e645f7369676e616c10011a166270665f73656e645f7369676e616c2068656c70657212210a0772696e6762756610011a144250465f4d41505f545950455f52494e4742554612220a076270665f6c736d1a1773656375726974796673206e6f74207265616461626c6512490a096367726f75705f76321a3c6e6f206367726f7570322066696c652073797374656d206973206d6f756e7465642028736565202f70726f632f73656c662f6d6f756e74696e666f2912210a0b6367726f75705f6b696c6c1a126e6f206367726f7570207632206d6f756e7412230a0d6367726f75705f667265657a651a126e6f206367726f7570207632206d6f756e741a0c6e6574776f726b2e64726f701a116e6574776f726b2e626c61636b686f6c651a116e6574776f726b2e706172746974696f6e1a0c70726f636573732e6b696c6c1a1170726f636573732e6b6565705f646f776e1a0e70726f636573732e667265657a651a0a706f7765725f6c6f7373','ipv4:127.0.0.1:57782',1796237441777422,1796237441777422);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  state TEXT NOT NULL,
  description TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  spec TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  ended_us INTEGER
);
INSERT INTO runs VALUES('r-20261202T185042-b53051','experiment','completed','completed','migration-drill: made by tests/data/state-0.1.0/make.sh with firedrill 0.1.0','root (uid 0)','/tmp/fd011-0FwGCp/drill.yaml','passed: every SLO was met',1796237442055135,1796237447314446);
INSERT INTO runs VALUES('r-20261202T185047-9a63c8','inject','completed','completed','made by make.sh','root (uid 0)',replace('selector: rack=r1 mode: all for: 1s spec: network {\n  blackhole {\n  }\n}\n','\n',char(10)),'the fault''s lease ended; agents reverted it on their own timers',1796237447442595,1796237450442719);
CREATE TABLE run_targets (
  run_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  fault_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL,
  acked_us INTEGER,
  effective_us INTEGER,
  reverted_us INTEGER,
  PRIMARY KEY (run_id, agent_id, fault_id)
);
INSERT INTO run_targets VALUES('r-20261202T185042-b53051','h1','r-20261202T185042-b53051.0','reverted','',1796237443098624,1796237444090146,1796237446091100);
INSERT INTO run_targets VALUES('r-20261202T185047-9a63c8','h1','r-20261202T185047-9a63c8.1','reverted','',1796237447446631,1796237447446293,1796237448442892);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
INSERT INTO events VALUES(1,'',1796237441777422,'h1','agent.connected','ipv4:127.0.0.1:57782');
INSERT INTO events VALUES(2,'r-20261202T185042-b53051',1796237444089995,'h1','fault.applied','r-20261202T185042-b53051.0');
INSERT INTO events VALUES(3,'r-20261202T185042-b53051',1796237446090141,'h1','fault.reverted','r-20261202T185042-b53051.0 REVERT_REQUESTED ');
INSERT INTO events VALUES(4,'r-20261202T185047-9a63c8',1796237447442595,'','run.admitted','1 target(s): h1');
INSERT INTO events VALUES(5,'r-20261202T185047-9a63c8',1796237447446142,'h1','fault.applied','r-20261202T185047-9a63c8.1');
INSERT INTO events VALUES(6,'r-20261202T185047-9a63c8',1796237448442892,'h1','fault.reverted','r-20261202T185047-9a63c8.1 REVERT_EXPIRED ');
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO settings VALUES('halt','{"at_us":1796237451508454,"by":"root (uid 0)","halted":true,"reason":"left in force by make.sh"}');
CREATE TABLE evidence_events(
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  head_signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  PRIMARY KEY(run_id, seq));
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',1,'run_created','2026-12-02T18:50:42.075096Z','{"at":"2026-12-02T18:50:42.075096Z","data":{"abort_unavailability_ms":0,"blast_radius":["the controller''s fleet-wide rules (protected selectors, shared budget, its own failure domain)"],"controller_host":"vm","controller_version":"firedrill 0.1.0","environment":"","experiment_file":"/tmp/fd011-0FwGCp/drill.yaml","experiment_name":"migration-drill","experiment_sha256":"b3a8cff286a1868f89026676eb78822ba8ee73c6b6a2e6809b16c4568d28c196","experiment_version":"","hypothesis":"","mode":"all","owner":"root (uid 0)","participants":[],"probes":[{"interval_ms":200,"kind":"command","location":"controller","name":"alive","target":"true"}],"required_approvals":0,"scenario":"made by tests/data/state-0.1.0/make.sh with firedrill 0.1.0","selector":"rack=r1","slos":[{"comparator":">=","kind":"availability","name":"availability alive","objective":"","probe":"alive","target_text":">= 0.5","threshold":0.0,"unit":"ratio"}],"steps":[{"duration_ms":2000,"fault":"network { blackhole { } }","index":1,"name":"","selector":"rack=r1"}],"sustain_samples":3,"test_type":"ad_hoc","user_notice_threshold_ms":7200000},"kind":"run_created","prev":"0000000000000000000000000000000000000000000000000000000000000000","run":"r-20261202T185042-b53051","seq":1,"v":1}','0000000000000000000000000000000000000000000000000000000000000000','8fc9883756de8799d68189c7edec70979c109e9d7c7d68c2460a4151adb3bee5','bkrNE2c6WWqtMJTYIixIiqdiG+sUjhcOZdHw0zny6To65yiA5/6KC1reAmAKVg45ReVkHAcurqeiHRMrKJiKBA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',2,'run_state','2026-12-02T18:50:42.075609Z','{"at":"2026-12-02T18:50:42.075609Z","data":{"detail":"","state":"preflight","step":0},"kind":"run_state","prev":"8fc9883756de8799d68189c7edec70979c109e9d7c7d68c2460a4151adb3bee5","run":"r-20261202T185042-b53051","seq":2,"v":1}','8fc9883756de8799d68189c7edec70979c109e9d7c7d68c2460a4151adb3bee5','97d73cf0654c2919118ab49bc140604a467b752595173b1176ba748c96e45247','CrNJphrEeZduk+I6c69l8HgjhGF/t3NSqMT8XfLwbOAPUS3dcKlb6vaWicTgPIEbdL7xifIBb+s2kASFpbhNBA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',3,'targets_resolved','2026-12-02T18:50:42.077164Z','{"at":"2026-12-02T18:50:42.077164Z","data":{"excluded":[],"fleet_size":0,"hosts":[{"agent_id":"h1","agent_version":"0.1.0","dc":"lab","host":"h1","rack":"r1","tags":{"dc":"lab","rack":"r1"}}],"mode":"all","selector":"rack=r1"},"kind":"targets_resolved","prev":"97d73cf0654c2919118ab49bc140604a467b752595173b1176ba748c96e45247","run":"r-20261202T185042-b53051","seq":3,"v":1}','97d73cf0654c2919118ab49bc140604a467b752595173b1176ba748c96e45247','2692c1f08cb8bbcfb9239841ff0533f1cb9d73d4d137e414620c0365884aff5a','p7gQ2lxBjysPTbEcyjkU0zPBorDw9xU8vg5RMhkxDNqO2XrPb/SENwz/C8U7j63MfXOXCEH61/lbP4MqLPo9DA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',4,'guard_verdict','2026-12-02T18:50:42.077469Z','{"at":"2026-12-02T18:50:42.077469Z","data":{"allowed":true,"phase":"preflight step 1","rules":[],"summary":"no rule broken"},"kind":"guard_verdict","prev":"2692c1f08cb8bbcfb9239841ff0533f1cb9d73d4d137e414620c0365884aff5a","run":"r-20261202T185042-b53051","seq":4,"v":1}','2692c1f08cb8bbcfb9239841ff0533f1cb9d73d4d137e414620c0365884aff5a','a212af464815d3b2138d46c99080c3163a19e1fc4356e309c4b70395517d3524','7ao/uxSxlLdIPVQp4qaz9oAUcNb8M/ZuEhCVfi9VS1vvr15WbLiwahk5IECGKaYzVd6pig0Y7QpVDtXOMUbdAQ==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',5,'guard_verdict','2026-12-02T18:50:42.077584Z','{"at":"2026-12-02T18:50:42.077584Z","data":{"allowed":true,"phase":"admit","rules":[],"summary":"no rule broken"},"kind":"guard_verdict","prev":"a212af464815d3b2138d46c99080c3163a19e1fc4356e309c4b70395517d3524","run":"r-20261202T185042-b53051","seq":5,"v":1}','a212af464815d3b2138d46c99080c3163a19e1fc4356e309c4b70395517d3524','21e73201569149417aa8c4ce478ae3dbfdaaedf0183db9d290230519ba8a7fe0','iqQOlk1ujDZC0zIgZrFXTEMNXsZ25Z/+FANyY4C2Iz3T4qUrTLq69wehgD0zg86UrsgrbNx+cuVgGA1ZmswgAg==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',6,'run_state','2026-12-02T18:50:42.077805Z','{"at":"2026-12-02T18:50:42.077805Z","data":{"detail":"probes must hold for 1s","state":"steady_state","step":0},"kind":"run_state","prev":"21e73201569149417aa8c4ce478ae3dbfdaaedf0183db9d290230519ba8a7fe0","run":"r-20261202T185042-b53051","seq":6,"v":1}','21e73201569149417aa8c4ce478ae3dbfdaaedf0183db9d290230519ba8a7fe0','7fb27b0c0b2054bf5bda0a040abc7d9b487ca346b8e4611f08dbbc0cf8eb860d','a3U4qG4oeR3FefCRVy+Pa2/1nnF/dBtLlPuRtoILaA0pO4AGxU96iFeXlBaTs+wxgr9IVxWu+7AXcftf/BY0Ag==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',7,'probe_samples','2026-12-02T18:50:43.087880Z','{"at":"2026-12-02T18:50:43.087880Z","data":{"probe":"alive","samples":[{"at":"2026-12-02T18:50:42.082265Z","error":"","latency_us":1298,"ok":true},{"at":"2026-12-02T18:50:42.282297Z","error":"","latency_us":1310,"ok":true},{"at":"2026-12-02T18:50:42.482298Z","error":"","latency_us":1219,"ok":true},{"at":"2026-12-02T18:50:42.682325Z","error":"","latency_us":1310,"ok":true},{"at":"2026-12-02T18:50:42.882304Z","error":"","latency_us":1224,"ok":true},{"at":"2026-12-02T18:50:43.082309Z","error":"","latency_us":1289,"ok":true}]},"kind":"probe_samples","prev":"7fb27b0c0b2054bf5bda0a040abc7d9b487ca346b8e4611f08dbbc0cf8eb860d","run":"r-20261202T185042-b53051","seq":7,"v":1}','7fb27b0c0b2054bf5bda0a040abc7d9b487ca346b8e4611f08dbbc0cf8eb860d','9c9017dae03b84b0afe79f1b5679f93d81b5cfd24e0b152d7326c755ae5968a5','mHw3jJlkE2MJ6CbYOEdyhDZxTn93T1C3dFF+kvdO1AlWUAzlALXL4BFfvVcSDR3gUTSR5SFlCU2Sh+7zDdDwDQ==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',8,'run_state','2026-12-02T18:50:43.088185Z','{"at":"2026-12-02T18:50:43.088185Z","data":{"detail":"step 1 of 1","state":"inject","step":1},"kind":"run_state","prev":"9c9017dae03b84b0afe79f1b5679f93d81b5cfd24e0b152d7326c755ae5968a5","run":"r-20261202T185042-b53051","seq":8,"v":1}','9c9017dae03b84b0afe79f1b5679f93d81b5cfd24e0b152d7326c755ae5968a5','557aad0b5cb9ba563239c5aeba4ea64477f35ea4c75ae4b6df864eaaa46f3256','v2pbufbkwauz4HZsJgUiaIkymNlN7pypA6bIyQ/Njco9EU46X4B4OXA7+GHpjoWRQtg+ll+mlJC/jcCLu0HnDw==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',9,'guard_verdict','2026-12-02T18:50:43.089188Z','{"at":"2026-12-02T18:50:43.089188Z","data":{"allowed":true,"phase":"step 1","rules":[],"summary":"no rule broken"},"kind":"guard_verdict","prev":"557aad0b5cb9ba563239c5aeba4ea64477f35ea4c75ae4b6df864eaaa46f3256","run":"r-20261202T185042-b53051","seq":9,"v":1}','557aad0b5cb9ba563239c5aeba4ea64477f35ea4c75ae4b6df864eaaa46f3256','930ca31d919346bd343ea3c369a8a43acd62d5559a8d08552f94c6fbcc84185a','eCgoSbgpYye1kH0EcPAqPsbqXlJlZ1CO+oc8Fw06Yl0pslkmRR5Oubh9rG1r3foWsR1Wx/MAts/Hbtk9U98wAg==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',10,'fault_applied','2026-12-02T18:50:44.091639Z','{"at":"2026-12-02T18:50:44.091639Z","data":{"agent_id":"h1","applied_at":"2026-12-02T18:50:44.090146Z","error":"","expires_at":"2026-12-02T18:51:16.089458Z","fault_id":"r-20261202T185042-b53051.0","fault_kind":"network","host":"h1","not_before":"2026-12-02T18:50:44.089458Z","ok":true,"step":1},"kind":"fault_applied","prev":"930ca31d919346bd343ea3c369a8a43acd62d5559a8d08552f94c6fbcc84185a","run":"r-20261202T185042-b53051","seq":10,"v":1}','930ca31d919346bd343ea3c369a8a43acd62d5559a8d08552f94c6fbcc84185a','a6d47bab02a71777d5c29795965cd50175154f46476bbba7b48b22bff2a30389','iJAUotfwgI1dSI5mQ2j235kWx3nHlQdpDCDjWtIEKovEkzgpzAWqDVubFdEGP5v8IQttwVM+iHkOgeRI2xSkAw==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',11,'run_state','2026-12-02T18:50:44.091953Z','{"at":"2026-12-02T18:50:44.091953Z","data":{"detail":"step 1 of 1 for 2s","state":"observe","step":1},"kind":"run_state","prev":"a6d47bab02a71777d5c29795965cd50175154f46476bbba7b48b22bff2a30389","run":"r-20261202T185042-b53051","seq":11,"v":1}','a6d47bab02a71777d5c29795965cd50175154f46476bbba7b48b22bff2a30389','1a060295cea39596f6f227e26a79f85d24e1a1bd023803bbf9218eab72487f30','aRDhi4LR3LCRnYrjlwS0l+AIpfL3qlTsDqt8Iwf347pnpdu+kV4eb4l/wM+sgDX3pdz7jhnOqnrTl3T/fGq1Aw==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',12,'probe_samples','2026-12-02T18:50:46.091320Z','{"at":"2026-12-02T18:50:46.091320Z","data":{"probe":"alive","samples":[{"at":"2026-12-02T18:50:43.282308Z","error":"","latency_us":1310,"ok":true},{"at":"2026-12-02T18:50:43.482314Z","error":"","latency_us":1312,"ok":true},{"at":"2026-12-02T18:50:43.685772Z","error":"","latency_us":1268,"ok":true},{"at":"2026-12-02T18:50:43.882304Z","error":"","latency_us":1346,"ok":true},{"at":"2026-12-02T18:50:44.082311Z","error":"","latency_us":1287,"ok":true},{"at":"2026-12-02T18:50:44.282320Z","error":"","latency_us":1309,"ok":true},{"at":"2026-12-02T18:50:44.482312Z","error":"","latency_us":1293,"ok":true},{"at":"2026-12-02T18:50:44.682310Z","error":"","latency_us":1310,"ok":true},{"at":"2026-12-02T18:50:44.882299Z","error":"","latency_us":1292,"ok":true},{"at":"2026-12-02T18:50:45.082308Z","error":"","latency_us":1333,"ok":true},{"at":"2026-12-02T18:50:45.282308Z","error":"","latency_us":1350,"ok":true},{"at":"2026-12-02T18:50:45.482304Z","error":"","latency_us":1299,"ok":true},{"at":"2026-12-02T18:50:45.682308Z","error":"","latency_us":1295,"ok":true},{"at":"2026-12-02T18:50:45.882307Z","error":"","latency_us":1320,"ok":true},{"at":"2026-12-02T18:50:46.085782Z","error":"","latency_us":1272,"ok":true}]},"kind":"probe_samples","prev":"1a060295cea39596f6f227e26a79f85d24e1a1bd023803bbf9218eab72487f30","run":"r-20261202T185042-b53051","seq":12,"v":1}','1a060295cea39596f6f227e26a79f85d24e1a1bd023803bbf9218eab72487f30','23f71f3e8a629f95324d921329a608a09d9f7a8cbff0fc7a8441b84e20466b9f','','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',13,'fault_reverted','2026-12-02T18:50:46.091420Z','{"at":"2026-12-02T18:50:46.091420Z","data":{"agent_id":"h1","error":"","fault_id":"r-20261202T185042-b53051.0","host":"h1","ok":true,"reason":"reverted","reverted_at":"2026-12-02T18:50:46.091100Z","step":1},"kind":"fault_reverted","prev":"23f71f3e8a629f95324d921329a608a09d9f7a8cbff0fc7a8441b84e20466b9f","run":"r-20261202T185042-b53051","seq":13,"v":1}','23f71f3e8a629f95324d921329a608a09d9f7a8cbff0fc7a8441b84e20466b9f','772df3a7ff13eecb797fc579a6b7c8bc7f2878a374dd84e5ee8141c2b7c0e762','tzbOveJj47nADx7fqatwjMa7+sPQilelcaCnVUhINeG7W1fwNHhTRYhsff1VDTDdBw9LSdAobT9y1BWZRfSkDA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',14,'run_state','2026-12-02T18:50:46.091630Z','{"at":"2026-12-02T18:50:46.091630Z","data":{"detail":"every step ran","state":"revert","step":0},"kind":"run_state","prev":"772df3a7ff13eecb797fc579a6b7c8bc7f2878a374dd84e5ee8141c2b7c0e762","run":"r-20261202T185042-b53051","seq":14,"v":1}','772df3a7ff13eecb797fc579a6b7c8bc7f2878a374dd84e5ee8141c2b7c0e762','c9bcbc478ac6b36dd767bfad46e436e42824c26599fc0a7d5d5d65ef076e9684','6kDaMchTxaLy09lxSYugM8VHEyY9vQnqpsoYH/IGClTD7E7hVWS83EbUmyvR+KXMwX1OUWzTRNAE26rJbjPJAg==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',15,'milestone','2026-12-02T18:50:46.092601Z','{"at":"2026-12-02T18:50:46.092601Z","data":{"at":"2026-12-02T18:50:46.091133Z","detail":"every step ran","name":"fault_lifted"},"kind":"milestone","prev":"c9bcbc478ac6b36dd767bfad46e436e42824c26599fc0a7d5d5d65ef076e9684","run":"r-20261202T185042-b53051","seq":15,"v":1}','c9bcbc478ac6b36dd767bfad46e436e42824c26599fc0a7d5d5d65ef076e9684','978959055350f30b5144a24c8fcc771701d7ddd922f32b382a844181fb65aecc','eh9YSOJNXmDEjfde31MAYAR0wxzh2lsJBzdG+54xsoOeWgqwGCKCRxa8AwxkhDAUJe4/qQ38pYNbJIWd9qr1CA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',16,'run_state','2026-12-02T18:50:46.092901Z','{"at":"2026-12-02T18:50:46.092901Z","data":{"detail":"probes must hold again for 1s","state":"recover","step":0},"kind":"run_state","prev":"978959055350f30b5144a24c8fcc771701d7ddd922f32b382a844181fb65aecc","run":"r-20261202T185042-b53051","seq":16,"v":1}','978959055350f30b5144a24c8fcc771701d7ddd922f32b382a844181fb65aecc','d4a6066045118c3cbdd92f4b8c759dc8f5758585cb6acb28263c9d9e97ebf7ef','ZcAVL+v1utkOJP41CgUKIwkabD5qHmT2fuiPO/hxxLuPRcs5redWvZQ7corb77eFUafWGs59aLo6xWTHxwu3Cg==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',17,'probe_samples','2026-12-02T18:50:47.304669Z','{"at":"2026-12-02T18:50:47.304669Z","data":{"probe":"alive","samples":[{"at":"2026-12-02T18:50:46.282320Z","error":"","latency_us":1307,"ok":true},{"at":"2026-12-02T18:50:46.482315Z","error":"","latency_us":1331,"ok":true},{"at":"2026-12-02T18:50:46.682321Z","error":"","latency_us":1293,"ok":true},{"at":"2026-12-02T18:50:46.882294Z","error":"","latency_us":4647,"ok":true},{"at":"2026-12-02T18:50:47.082318Z","error":"","latency_us":1376,"ok":true},{"at":"2026-12-02T18:50:47.282320Z","error":"","latency_us":1255,"ok":true}]},"kind":"probe_samples","prev":"d4a6066045118c3cbdd92f4b8c759dc8f5758585cb6acb28263c9d9e97ebf7ef","run":"r-20261202T185042-b53051","seq":17,"v":1}','d4a6066045118c3cbdd92f4b8c759dc8f5758585cb6acb28263c9d9e97ebf7ef','3478cfbe71ca9c193ffafa82f1b6268af8456602befc26a45a5bbb5917af96da','s+gxyi+nkA8Fnzi9eBJciuhZj4KKR1/BI0XS2mR87P7OU0RI91+N9wS4ipIcDv20nRYurQ7VLtohcqOb9VxjDw==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',18,'milestone','2026-12-02T18:50:47.305085Z','{"at":"2026-12-02T18:50:47.305085Z","data":{"at":"2026-12-02T18:50:46.282320Z","detail":"","name":"recovery"},"kind":"milestone","prev":"3478cfbe71ca9c193ffafa82f1b6268af8456602befc26a45a5bbb5917af96da","run":"r-20261202T185042-b53051","seq":18,"v":1}','3478cfbe71ca9c193ffafa82f1b6268af8456602befc26a45a5bbb5917af96da','24a58efc19e6cd6ac8ed2d673c5f954e02f4bbc80dd13ae4fbcfbc7ee57583e3','EVs1jXNB8qCuRFQHB6/6u+hNJSxLhGiQuUzA6+ouJ6TDEvd+h+FQ/kH/B8aP+veOT/pgsPoWMrtpBlrVkUjSCw==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',19,'run_state','2026-12-02T18:50:47.305256Z','{"at":"2026-12-02T18:50:47.305256Z","data":{"detail":"","state":"verdict","step":0},"kind":"run_state","prev":"24a58efc19e6cd6ac8ed2d673c5f954e02f4bbc80dd13ae4fbcfbc7ee57583e3","run":"r-20261202T185042-b53051","seq":19,"v":1}','24a58efc19e6cd6ac8ed2d673c5f954e02f4bbc80dd13ae4fbcfbc7ee57583e3','09a9fafb6c0807f7c77fd0776b51a3e53d71b026232e49d09318d86cf9bafe1b','VVO7W6Khiyv3DrDFhhKV7dYKx9sdkgC+ngTSkn+wAtO/ScRqNUIAX21jg50GOBOxyjM1cDCWUUOrXZ9gEySBBQ==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',20,'slo_result','2026-12-02T18:50:47.315318Z','{"at":"2026-12-02T18:50:47.315318Z","data":{"detail":"","measured":1.0,"measured_set":true,"measured_text":"1.0000 (16/16)","name":"availability alive","pass":true,"unit":"ratio"},"kind":"slo_result","prev":"09a9fafb6c0807f7c77fd0776b51a3e53d71b026232e49d09318d86cf9bafe1b","run":"r-20261202T185042-b53051","seq":20,"v":1}','09a9fafb6c0807f7c77fd0776b51a3e53d71b026232e49d09318d86cf9bafe1b','56d6b832222afc358148c4b0fd39ad4f20e8bdf0b52b966f862f642b67afbb68','75jhiUgJS3Drkh9Dn7ZURRK8cA1qUrj70jeD6s2P1S/GGnMEDjLE+ku/8j7fcnNECwsjVfBMbz+C0FMRfAtJCg==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
INSERT INTO evidence_events VALUES('r-20261202T185042-b53051',21,'verdict','2026-12-02T18:50:47.315591Z','{"at":"2026-12-02T18:50:47.315591Z","data":{"outcome":"pass","reason":"every SLO was met"},"kind":"verdict","prev":"56d6b832222afc358148c4b0fd39ad4f20e8bdf0b52b966f862f642b67afbb68","run":"r-20261202T185042-b53051","seq":21,"v":1}','56d6b832222afc358148c4b0fd39ad4f20e8bdf0b52b966f862f642b67afbb68','3cd5f0e0a79714243a51ff639cb8bade941c8ecbaa10d8518c7d68d2ebd5a043','b+9luBUu6+SYQkzogWG/zX1WdJJfebJY1kM9jRIEsXoGiQc771iQpp8p3ImlkZzwazSRsVtMptFfTU/YbG4WAA==','sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47');
CREATE TABLE evidence_findings(
  finding_id TEXT NOT NULL,
  rev INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  retest_run TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  PRIMARY KEY(finding_id, rev));
CREATE TABLE evidence_keys(
  fingerprint TEXT PRIMARY KEY,
  public_pem TEXT NOT NULL);
INSERT INTO evidence_keys VALUES('sha256:97d3df2449a794d62c19df1709d10b5f8e7ea0bce493814758b1cca8c09c2e47',replace('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAetSTbhXFys8RJTg0U0pOMSKylDQMtg1BwPW1H8iEsqI=\n-----END PUBLIC KEY-----\n','\n',char(10)));
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('events',6);
CREATE INDEX runs_in_flight ON runs(ended_us) WHERE ended_us IS NULL;
CREATE INDEX events_by_run ON events(run_id, seq);
CREATE INDEX evidence_findings_run ON evidence_findings(run_id);
CREATE INDEX evidence_findings_retest ON evidence_findings(retest_run);
CREATE TRIGGER evidence_events_no_update BEFORE UPDATE ON evidence_events
  BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
CREATE TRIGGER evidence_events_no_delete BEFORE DELETE ON evidence_events
  BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
CREATE TRIGGER evidence_findings_no_update BEFORE UPDATE ON evidence_findings
  BEGIN SELECT RAISE(ABORT, 'finding records are append-only'); END;
CREATE TRIGGER evidence_findings_no_delete BEFORE DELETE ON evidence_findings
  BEGIN SELECT RAISE(ABORT, 'finding records are append-only'); END;
CREATE TRIGGER evidence_keys_no_update BEFORE UPDATE ON evidence_keys
  BEGIN SELECT RAISE(ABORT, 'evidence keys are append-only'); END;
COMMIT;
