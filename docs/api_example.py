"""The Python API in a few lines (the README includes this file; tests/test_convrec.py runs it)."""

from convrec import ConvRec

rec = ConvRec.from_config()  # ./convrec.toml, then CONVREC_* variables; default catalog: phones
reply = rec.chat("a Sony phone please, just show me", session_id="alice")
print(reply.question or reply.text)
for r in reply.recommendations:
    print(f"{r.title} (score {r.score:.3f}): {r.explanation}")

rec.feedback("alice", reply.recommendations[0].item_id, liked=False)  # hide it, learn from it
print(rec.profile("alice").disliked_items)

ranked = rec.recommend([{"role": "user", "content": "a Sony phone"}], k=10)  # no session
print([rec.item(r.item_id).title for r in ranked])
