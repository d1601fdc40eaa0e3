"""Peer for `chatkeep demo seed`: Python's sqlite3 executemany writing the same
volume into the same schema (created by chatkeep's migrations), in one
transaction, with the same pragmas. Usage: seed_peer.py DB CONVERSATIONS MESSAGES"""
import random, sqlite3, sys, time

db, conversations, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
con = sqlite3.connect(db, isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "temp_store=MEMORY", "cache_size=-524288"):
    con.execute("PRAGMA " + pragma)
bodies = ["Bonjour, j'ai une question sur ma facture du mois dernier.", "Здравствуйте, у меня не работает вход в аккаунт.",
          "你好，我想查询一下订单状态。", "He said \"it works on my machine\", which is not helpful.", "Great news 🎉 the release is out!"]
started = time.perf_counter()
con.execute("BEGIN IMMEDIATE")
users = max(20, conversations // 4)
con.executemany("INSERT INTO users (id, external_id, display_name, email, created_at) VALUES (?,?,?,?,?)",
                ((n, f"peer-u{n:06}", f"User {n}", f"u{n}@example.com", "2025-01-01T00:00:00.000Z") for n in range(1, users + 1)))
per = messages // conversations
def ts(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1735689600 + seconds))
conv_rows, part_rows, msg_rows, read_rows = [], [], [], []
mid = 0
for c in range(1, conversations + 1):
    start = int(c * 31_536_000 / conversations)
    a, b = rng.randrange(1, users + 1), rng.randrange(1, users + 1)
    while b == a:
        b = rng.randrange(1, users + 1)
    conv_rows.append((c, f"peer-c{c:08}", "direct", a, ts(start), ts(start + per * 60)))
    part_rows += [(c, a, "owner", ts(start)), (c, b, "member", ts(start))]
    for k in range(per):
        mid += 1
        sender, reader = (a, b) if k % 2 == 0 else (b, a)
        msg_rows.append((mid, f"peer-m{mid:09}", c, sender, "user", "text", rng.choice(bodies), rng.randrange(0, 300), ts(start + k * 60)))
        if rng.random() < 0.75:
            read_rows.append((mid, reader, ts(start + k * 60 + 30)))
        if rng.random() < 0.75 and k % 3 == 0:
            read_rows.append((mid, sender, ts(start + k * 60 + 31)))
con.executemany("INSERT INTO conversations (id, external_id, kind, owner_id, created_at, last_activity_at) VALUES (?,?,?,?,?,?)", conv_rows)
con.executemany("INSERT OR IGNORE INTO participants (conversation_id, user_id, role, joined_at) VALUES (?,?,?,?)", part_rows)
con.executemany("INSERT INTO messages (id, external_id, conversation_id, sender_id, role, kind, body, tokens_used, created_at) VALUES (?,?,?,?,?,?,?,?,?)", msg_rows)
con.executemany("INSERT OR IGNORE INTO message_reads (message_id, user_id, read_at) VALUES (?,?,?)", read_rows)
con.execute("COMMIT")
elapsed = time.perf_counter() - started
print(f"peer: {conversations} conversations, {len(msg_rows)} messages, {len(read_rows)} reads, {len(part_rows)} participants in {elapsed:.1f} s")
