"""A small OpenAI-compatible server for the tests: deterministic answers on 127.0.0.1 only.

Run it as ``python tests/fake_llm_server.py [--port 0]`` (prints the port on its first line) or
``start()`` it in a thread. POST /v1/chat/completions and /v1/completions answer:

* the text: the prompt's ``#answer: TEXT`` directive (to the end of its line), else a
  deterministic text made from a hash of the prompt and the request's ``sample``-free body;
* with ``logprobs``: top log-probabilities of the first token from ``#logprobs: A=-0.1,B=-2``,
  else a deterministic ranking of the letters A-T and the digits 0-3;
* usage: prompt and completion tokens counted as whitespace-separated words.

Directives that test the client: ``#status: 429 x2`` (that status the first 2 times this prompt
is asked, then success; without ``xN``: always), ``#retry-after: 0.2``, ``#malformed`` (a body
that is not JSON), ``#nochoices`` (JSON without choices), ``#sleep: 2.5`` (seconds before
answering). GET /stats gives ``{"requests": n, "max_concurrent": m, "auth": [...]}`` and
POST /reset clears them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Tuple

WORDS = ("retrieval ranking passage query document relevance feedback vector dense sparse model "
         "answer evidence claim study result method protein cell gene effect patients").split()


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.active = 0
        self.max_concurrent = 0
        self.asked: Dict[str, int] = {}
        self.auth: list = []


def _directive(prompt: str, name: str):
    m = re.search(r"#" + name + r":\s*([^\n]*)", prompt)
    return m.group(1).strip() if m else None


def _text_for(prompt: str, max_tokens: int) -> str:
    answer = _directive(prompt, "answer")
    if answer is not None:
        return answer.replace("\\n", "\n")
    h = hashlib.sha256(prompt.encode()).digest()
    n = min(max_tokens, 8 + h[0] % 16)
    return " ".join(WORDS[h[i % len(h)] % len(WORDS)] for i in range(n))


def _top_logprobs(prompt: str) -> Dict[str, float]:
    spec = _directive(prompt, "logprobs")
    if spec is not None:
        out = {}
        for part in spec.split(","):
            tok, _, val = part.partition("=")
            out[tok.strip()] = float(val)
        return out
    h = hashlib.sha256(prompt.encode()).digest()
    labels = [chr(ord("A") + i) for i in range(20)] + ["0", "1", "2", "3", "Yes", "No"]
    return {lab: -float(h[i % len(h)] % 97) / 10.0 - 0.01 * i for i, lab in enumerate(labels)}


def make_handler(state: _State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _done(self) -> None:
            # A request stops being active before its answer leaves: the client may start its
            # next request as soon as it has the answer, and must not be seen as one too many.
            if getattr(self, "_active", False):
                self._active = False
                with state.lock:
                    state.active -= 1

        def _send(self, status: int, body: bytes, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
            self._done()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/stats"):
                with state.lock:
                    body = {"requests": state.requests, "max_concurrent": state.max_concurrent,
                            "auth": list(state.auth)}
                self._send(200, json.dumps(body).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.path.rstrip("/").endswith("/reset"):
                with state.lock:
                    state.requests = state.max_concurrent = 0
                    state.asked.clear()
                    state.auth.clear()
                self._send(200, b"{}")
                return
            with state.lock:
                state.requests += 1
                state.active += 1
                state.max_concurrent = max(state.max_concurrent, state.active)
                state.auth.append(self.headers.get("Authorization", ""))
            self._active = True
            try:
                self._answer(raw)
            finally:
                self._done()

        def _answer(self, raw: bytes) -> None:
            try:
                req = json.loads(raw)
            except ValueError:
                self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                return
            chat = self.path.rstrip("/").endswith("/chat/completions")
            if chat:
                prompt = "\n".join(m.get("content", "") for m in req.get("messages", []))
            else:
                prompt = req.get("prompt", "")
            sleep = _directive(prompt, "sleep")
            if sleep is not None:
                time.sleep(float(sleep))
            status = _directive(prompt, "status")
            if status is not None:
                code, _, times = status.partition(" x")
                with state.lock:
                    seen = state.asked.get(prompt, 0)
                    state.asked[prompt] = seen + 1
                if not times or seen < int(times):
                    retry_after = _directive(prompt, "retry-after")
                    headers = (("Retry-After", retry_after),) if retry_after else ()
                    self._send(int(code), b'{"error": {"message": "simulated"}}', headers)
                    return
            if "#malformed" in prompt:
                self._send(200, b'{"choices": [{"message": {"content": "unterminated')
                return
            if "#nochoices" in prompt:
                self._send(200, b'{"object": "chat.completion"}')
                return
            max_tokens = int(req.get("max_tokens", 256))
            text = _text_for(prompt, max_tokens)
            logprobs = req.get("logprobs")
            choice: dict = {"index": 0, "finish_reason": "stop"}
            if logprobs:
                top = sorted(_top_logprobs(prompt).items(), key=lambda kv: -kv[1])[:20]
                text = top[0][0] if top else ""
                if chat:
                    choice["logprobs"] = {"content": [{"token": text, "logprob": top[0][1] if top else 0.0,
                                                       "top_logprobs": [{"token": t, "logprob": v} for t, v in top]}]}
                else:
                    choice["logprobs"] = {"tokens": [text], "top_logprobs": [dict(top)]}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            body = {"id": "fake", "object": "chat.completion" if chat else "text_completion",
                    "model": req.get("model", ""), "choices": [choice],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(prompt.split()) + len(text.split())}}
            self._send(200, json.dumps(body).encode())

    return Handler


def start(port: int = 0):
    """Starts the server in a daemon thread on 127.0.0.1; returns (server, port)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(_State()))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(_State()))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
