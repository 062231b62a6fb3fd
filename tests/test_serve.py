"""``aigc_np serve`` as a client sees it: the real server on 127.0.0.1 (port 0), called with urllib.

Every kind answers with the same images or text the command line's ``sample`` draws for the seed; a
walk starts and ends at the two seeds' first images; the plane decodes the point asked for. Then every
bad input gets a clean 4xx with a JSON error (a bad field: its name, the allowed range and the value
received), an error inside generation a 500 without a traceback, and the server keeps serving; 50
concurrent requests all succeed with the results of the same requests sent one at a time.
"""
import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import matplotlib.image
import numpy as np
import pytest

from aigc_np.checkpoint import load_model, save_checkpoint
from aigc_np.data import load_dataset
from aigc_np.kinds import KINDS, generate
from aigc_np.serve import MAX_IN_FLIGHT, encode_png, load_served, running
from serve_helpers import VOCAB, call, tiny_checkpoints, tiny_poem_checkpoint


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    paths = tiny_checkpoints(tmp_path_factory.mktemp("serve"))
    models = load_served([str(p.parent) for p in paths.values()])   # run folders: their best.npz
    with running(models) as server:
        yield server, paths


def pixels(data_url: str) -> np.ndarray:
    """A data URL's PNG, read back by matplotlib (an independent decoder), as uint8 (H, W)."""
    assert data_url.startswith("data:image/png;base64,")
    image = matplotlib.image.imread(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    return np.round(image * 255).astype(np.uint8)


def as_png_pixels(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def generate_ok(server, body) -> dict:
    status, out = call(server.url + "api/generate", body)
    assert status == 200, out
    return out


# ---------------------------------------------------------------- what is served
def test_models_lists_every_kind_with_its_modes_and_bounds(served):
    server, _ = served
    status, out = call(server.url + "api/models")
    assert status == 200
    models = {m["name"]: m for m in out["models"]}
    assert list(models) == list(KINDS) and [m["index"] for m in out["models"]] == list(range(len(KINDS)))
    assert {k for k, m in models.items() if "decode" in m["modes"]} == {"ae", "vae", "cvae"}   # 2-D latents
    assert {k for k, m in models.items() if "walk" in m["modes"]} == {"ae", "vae", "cvae", "gan", "dcgan", "cgan",
                                                                      "wgan-gp"}
    assert models["cgan"]["fields"]["label"] == {"type": "int", "min": 0, "max": 9, "default": None, "nullable": True}
    assert models["cddpm"]["fields"]["guidance"]["max"] == 20.0 and models["ddpm"]["fields"]["steps"]["max"] == 20
    assert models["cldm"]["fields"]["guidance"]["max"] == 20.0 and "guidance" not in models["ldm"]["fields"]
    assert models["ldm"]["fields"]["steps"]["max"] == 100        # a flow samples in any number of steps
    assert set(models["gpt"]["fields"]) == {"prompt", "length", "temperature", "top_k", "seed"}
    assert models["gpt"]["fields"]["top_k"]["max"] == len(VOCAB)


def test_the_page_is_one_offline_document(served):
    server, _ = served
    status, page = call(server.url + "?autorun=1")
    assert status == 200 and page.startswith("<!doctype html>") and "/api/generate" in page
    assert "http://" not in page and "https://" not in page and "<link rel=\"stylesheet\"" not in page


IMAGE_KINDS = ["ae", "vae", "cvae", "gan", "dcgan", "cgan", "wgan-gp"]


DIFFUSION_KINDS = ["ddpm", "cddpm", "ldm", "cldm"]


@pytest.mark.parametrize("kind", IMAGE_KINDS + DIFFUSION_KINDS)
def test_each_image_kind_serves_what_sample_draws_for_the_seed(served, kind):
    server, paths = served
    n, seed = (3 if kind in DIFFUSION_KINDS else 6), 11
    body = {"model": kind, "n": n, "seed": seed}
    options = {"labels": np.full(n, 3)} if KINDS[kind].conditional else {}
    if KINDS[kind].conditional:
        body["label"] = 3
    if kind == "ae":
        options["train_images"] = load_dataset(seed=0).x_train
    if kind in DIFFUSION_KINDS:
        body["steps"] = options["sampling_steps"] = 2
    model, _ = load_model(paths[kind])
    if KINDS[kind].conditional and "guidance" in KINDS[kind].settings:   # classifier-free guidance
        body["guidance"] = options["guidance"] = 1.5
    expected = as_png_pixels(generate(model, n, np.random.default_rng(seed), **options))
    out = generate_ok(server, body)
    assert out["shape"] == [n, 28, 28] and len(out["images"]) == n and out["kind"] == kind
    assert np.array_equal(np.stack([pixels(u) for u in out["images"]]), expected)
    if KINDS[kind].conditional:
        assert out["labels"] == [3] * n


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_a_walk_goes_from_the_first_image_of_one_seed_to_the_first_of_the_other(served, kind):
    server, _ = served
    label = {"label": 5} if KINDS[kind].conditional else {}
    walk = generate_ok(server, {"model": kind, "mode": "walk", "seed": 1, "seed2": 2, "n": 7, **label})
    first = generate_ok(server, {"model": kind, "n": 3, "seed": 1, **label})["images"][0]
    last = generate_ok(server, {"model": kind, "n": 1, "seed": 2, **label})["images"][0]
    assert walk["shape"] == [7, 28, 28]
    frames = [pixels(u).astype(int) for u in walk["images"]]
    assert np.abs(frames[0] - pixels(first)).max() <= 1 and np.abs(frames[-1] - pixels(last)).max() <= 1
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_the_plane_decodes_each_point_asked_for(served, kind):
    server, paths = served
    points = [[0.0, 0.0], [-3.5, 2.0], [4.0, -4.0]]
    label = {"label": 2} if kind == "cvae" else {}
    out = generate_ok(server, {"model": kind, "mode": "decode", "z": points, **label})
    model, _ = load_model(paths[kind])
    u = np.array(points)
    if kind == "ae":   # the plane is in units of the fitted Gaussian: z = mean + L u
        codes = model.encode(load_dataset(seed=0).x_train / np.float32(255)).astype(np.float64)
        u = codes.mean(0) + u @ np.linalg.cholesky(np.cov(codes, rowvar=False) + 1e-6 * np.eye(2)).T
    z = u.astype(np.float32)
    images = model.decode(z, np.full(3, 2)) if kind == "cvae" else model.decode(z)
    got = np.stack([pixels(s) for s in out["images"]]).astype(int)
    assert np.abs(got - as_png_pixels(images.reshape(3, 28, 28))).max() <= 1


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_text_kinds_continue_the_prompt_as_sample_does(served, kind):
    server, paths = served
    body = {"model": kind, "prompt": "ab", "length": 30, "temperature": 0.7, "top_k": 5, "seed": 3}
    out = generate_ok(server, body)
    model, _ = load_model(paths[kind])
    assert out["text"] == generate(model, 30, np.random.default_rng(3), prompt="ab", temperature=0.7, top_k=5)
    assert out["text"].startswith("ab") and len(out["text"]) == 32
    by_index = generate_ok(server, {**body, "model": list(KINDS).index(kind)})
    assert by_index["text"] == out["text"]


def test_png_encoder_round_trips_through_an_independent_decoder(rng):
    for shape in [(1, 1), (28, 28), (3, 17)]:
        image = rng.integers(0, 256, shape).astype(np.uint8)
        assert np.array_equal(pixels("data:image/png;base64," + base64.b64encode(encode_png(image)).decode()), image)
    assert np.array_equal(pixels("data:image/png;base64," + base64.b64encode(encode_png(
        np.array([[-1.0, 0.0, 0.5, 1.0, 2.0]]))).decode()), [[0, 0, 128, 255, 255]])
    with pytest.raises(ValueError, match=r"encode_png: expected an image \(H, W\).*got shape \(2, 2, 3\)"):
        encode_png(np.zeros((2, 2, 3)))


# ---------------------------------------------------------------- concurrency
def test_50_concurrent_requests_all_succeed_with_the_results_of_one_at_a_time(served):
    server, _ = served
    models = ["vae", "cgan", "gpt", "lstm", "dcgan"]
    bodies = [{"model": models[i % 5], "seed": i, **({"prompt": ".", "length": 20} if models[i % 5] in ("gpt", "lstm")
                                                     else {"n": 1 + i % 9})} for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda b: call(server.url + "api/generate", b), bodies))
    assert all(status == 200 for status, _ in results), [out for status, out in results if status != 200][:3]
    for body, (_, out) in zip(bodies, results):
        if "prompt" in body:
            assert len(out["text"]) == 21
        else:
            assert out["shape"] == [body["n"], 28, 28] and len(out["images"]) == body["n"]
    for body, (_, out) in list(zip(bodies, results))[:10]:   # the same request alone gives the same result
        alone = generate_ok(server, body)
        assert alone.get("text") == out.get("text") and alone.get("images") == out.get("images")


# ---------------------------------------------------------------- every bad input: a clean 4xx
BAD_FIELDS = [  # (body, status, field, the error's text, the value received)
    ({"model": "vae", "n": 0}, 400, "n", "expected an integer in 1..100", 0),
    ({"model": "vae", "n": 101}, 400, "n", "expected an integer in 1..100", 101),
    ({"model": "vae", "n": "5"}, 400, "n", "expected an integer in 1..100", "5"),
    ({"model": "vae", "n": True}, 400, "n", "expected an integer in 1..100", True),
    ({"model": "vae", "n": 2.5}, 400, "n", "expected an integer in 1..100", 2.5),
    ({"model": "vae", "n": 10 ** 30}, 400, "n", "expected an integer in 1..100", "10000000000000000000..."),
    ({"model": "ddpm", "n": 17}, 400, "n", "expected an integer in 1..16", 17),
    ({"model": "vae", "seed": -1}, 400, "seed", "expected an integer in 0..4294967295", -1),
    ({"model": "vae", "seed": 2 ** 32}, 400, "seed", "expected an integer in 0..4294967295", 2 ** 32),
    ({"model": "cgan", "label": 10}, 400, "label", "expected an integer in 0..9 or null", 10),
    ({"model": "cvae", "label": -1}, 400, "label", "expected an integer in 0..9 or null", -1),
    ({"model": "cddpm", "label": 3.0}, 400, "label", "expected an integer in 0..9 or null", 3.0),
    ({"model": "vae", "label": 3}, 400, "label", "not a field of this model", 3),
    ({"model": "cddpm", "guidance": 20.5}, 400, "guidance", "expected a number in [0, 20]", 20.5),
    ({"model": "cddpm", "guidance": -1}, 400, "guidance", "expected a number in [0, 20]", -1),
    ({"model": "ddpm", "guidance": 2}, 400, "guidance", "not a field of this model", 2),
    ({"model": "ddpm", "steps": 0}, 400, "steps", "expected an integer in 1..20", 0),
    ({"model": "ddpm", "steps": 21}, 400, "steps", "expected an integer in 1..20", 21),
    ({"model": "gpt", "temperature": 5.5}, 400, "temperature", "expected a number in [0, 5]", 5.5),
    ({"model": "gpt", "temperature": -0.1}, 400, "temperature", "expected a number in [0, 5]", -0.1),
    ({"model": "gpt", "temperature": 1e300}, 400, "temperature", "expected a number in [0, 5]",
     1e300),
    ({"model": "lstm", "top_k": 0}, 400, "top_k", f"expected an integer in 1..{len(VOCAB)} or null", 0),
    ({"model": "lstm", "top_k": len(VOCAB) + 1}, 400, "top_k", f"expected an integer in 1..{len(VOCAB)} or null",
     len(VOCAB) + 1),
    ({"model": "gpt", "length": 0}, 400, "length", "expected an integer in 1..1000", 0),
    ({"model": "gpt", "length": 1001}, 400, "length", "expected an integer in 1..1000", 1001),
    ({"model": "gpt", "prompt": ""}, 400, "prompt", "expected a string of 1..500 characters", ""),
    ({"model": "gpt", "prompt": "a" * 501}, 400, "prompt", "expected a string of 1..500 characters",
     "a" * 60 + "... (501 characters)"),
    ({"model": "gpt", "prompt": 7}, 400, "prompt", "expected a string of 1..500 characters", 7),
    ({"model": "gpt", "prompt": "ROMEO"}, 400, "prompt",
     "4 character(s) not in the model's vocabulary: 'E', 'M', 'O', 'R'", "ROMEO"),
    ({"model": "vae", "mode": "decode", "z": [[4.5, 0]]}, 400, "z", "each coordinate in [-4, 4]", "[[4.5, 0]]"),
    ({"model": "vae", "mode": "decode", "z": [[1]]}, 400, "z", "a list of 1..100 points [u1, u2]", "[[1]]"),
    ({"model": "vae", "mode": "decode", "z": [[0, 0]] * 101}, 400, "z", "a list of 1..100 points", None),
    ({"model": "vae", "mode": "decode", "z": []}, 400, "z", "a list of 1..100 points", "[]"),
    ({"model": "vae", "mode": "dream"}, 400, "mode", "expected one of 'samples', 'walk', 'decode'", "dream"),
    ({"model": "ddpm", "mode": "walk"}, 400, "mode", "expected one of 'samples'", "walk"),
    ({"model": "gan", "mode": "decode", "z": [[0, 0]]}, 400, "mode", "expected one of 'samples', 'walk'", "decode"),
    ({"model": "vae", "seed2": 4}, 400, "seed2", "read only by mode 'walk', not by mode 'samples'", 4),
    ({"model": "vae", "mode": "decode", "n": 4}, 400, "n", "read only by mode 'samples' or 'walk'", 4),
    ({"model": "vae", "path": "/etc/passwd"}, 400, "path", "not a field of this model", "/etc/passwd"),
    ({"n": 4}, 400, "model", "a served model's name", None),
    ({"model": ["vae"]}, 400, "model", "a served model's name", "['vae']"),
    ({"model": True}, 400, "model", "a served model's name", True),
    ({"model": "nosuch"}, 404, "model", "a served model's name ('ae', 'vae'", "nosuch"),
    ({"model": "../../etc/passwd"}, 404, "model", "a served model's name", "../../etc/passwd"),
    ({"model": 13}, 404, "model", "index 0..12", 13),
    ({"model": -1}, 404, "model", "index 0..12", -1),
]


@pytest.mark.parametrize("body,status,field,text,received", BAD_FIELDS, ids=[
    f"{b.get('model')}-{f}-{i}" for i, (b, _, f, _, _) in enumerate(BAD_FIELDS)])
def test_a_bad_field_is_refused_naming_the_field_the_range_and_the_value(served, body, status, field, text, received):
    server, _ = served
    got, out = call(server.url + "api/generate", body)
    assert got == status and out["field"] == field and text in out["error"], out
    assert out["error"].startswith(f"{field}: ") and out["allowed"] and "Traceback" not in json.dumps(out)
    if received is not None:
        assert out["received"] == received


def raw(server, request: bytes) -> tuple:
    """Send raw bytes; (status, JSON body) of the answer."""
    import socket
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), json.loads(body)


def post(path: str, body: bytes, content_type="application/json", extra="") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


BAD_REQUESTS = [  # (raw request, status, words of the error)
    (post("/api/generate", b'{"model": "vae", "n": 2'), 400, "not valid JSON"),
    (post("/api/generate", b'{"model": "vae", "n": NaN}'), 400, "NaN is not a number JSON allows"),
    (post("/api/generate", b'{"model": "vae", "n": Infinity}'), 400, "Infinity is not a number JSON allows"),
    (post("/api/generate", b"[" * 5000 + b"]" * 5000), 400, "not valid JSON"),
    (post("/api/generate", b'{"model": "\xff\xfe"}'), 400, "not valid JSON in UTF-8"),
    (post("/api/generate", b'["vae", 4]'), 400, "expected a JSON object, got list"),
    (post("/api/generate", b""), 400, "not valid JSON"),
    (post("/api/generate", b'{"model": "vae"}', content_type="text/plain"), 415, "expected application/json"),
    (b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", 411, "Content-Length"),
    (b"POST /api/generate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 12x\r\n\r\n", 400,
     "Content-Length: expected an integer"),
    (b"POST /api/generate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 16385\r\n\r\n", 413,
     "the body is 16385 bytes; at most 16384"),
    (b"GET /api/generate HTTP/1.1\r\n\r\n", 405, "/api/generate takes POST, not GET"),
    (post("/", b"{}"), 405, "/ takes GET, not POST"),
    (post("/api/models", b"{}"), 405, "/api/models takes GET, not POST"),
    (b"PUT /api/generate HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "method 'PUT' not allowed"),
    (b"DELETE /api/models HTTP/1.1\r\n\r\n", 405, "method 'DELETE' not allowed"),
    (b"BREW / HTTP/1.1\r\n\r\n", 405, "method 'BREW' not allowed"),
    (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET /..%2f..%2fsetup.cfg HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET /api/models/../../../aigc_np/serve/page.html HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET //etc/passwd HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET /aigc_np/serve/ HTTP/1.1\r\n\r\n", 404, "no such route"),
    (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414, "at most 2048"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431, "Line too long"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431, "Too many headers"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 500) for i in range(40)) + b"\r\n", 431,
     "at most 16384"),
    (b"GET / HTTP/9.9\r\n\r\n", 505, "Invalid HTTP version"),
    (b"nonsense\r\n\r\n", 400, "Bad request syntax"),
]


@pytest.mark.parametrize("request_,status,words", BAD_REQUESTS, ids=[f"{s}-{i}" for i, (_, s, _) in
                                                                     enumerate(BAD_REQUESTS)])
def test_a_bad_request_gets_a_clean_json_error_and_the_server_lives(served, request_, status, words):
    server, _ = served
    got, head, out = raw(server, request_)
    assert got == status and words in out["error"] and "Traceback" not in out["error"], (got, out)
    assert "application/json" in head
    if got == 405 and "takes" in out["error"]:
        assert "\r\nAllow: " in head
    assert call(server.url + "api/models")[0] == 200


def test_an_error_inside_generation_is_a_500_of_one_line_and_the_server_goes_on(served, monkeypatch, capfd):
    server, _ = served
    vae = next(m for m in server.models if m.name == "vae")

    def broken(z):
        raise RuntimeError("the decoder\nbroke")
    monkeypatch.setattr(vae.model, "decode", broken)
    status, out = call(server.url + "api/generate", {"model": "vae", "n": 2})
    assert status == 500 and out == {"error": "generation failed: RuntimeError: the decoder broke"}
    assert "error: the decoder broke (model 'vae', POST /api/generate)" in capfd.readouterr().err
    monkeypatch.undo()
    assert generate_ok(server, {"model": "vae", "n": 2})["shape"] == [2, 28, 28]
    assert not vae.lock.locked()


def test_more_requests_than_the_server_holds_are_told_to_come_back(served):
    server, _ = served
    held = [server.slots.acquire(timeout=10) for _ in range(MAX_IN_FLIGHT)]   # every slot taken
    try:
        assert all(held)
        status, out = call(server.url + "api/generate", {"model": "vae"})
        assert status == 503 and out["error"] == f"busy: {MAX_IN_FLIGHT} requests are being served; try again"
    finally:
        for _ in held:
            server.slots.release()
    assert generate_ok(server, {"model": "vae"})["shape"] == [16, 28, 28]


def test_a_latent_model_saved_before_its_first_denoiser_step_is_refused_at_start(tmp_path):
    path = tiny_checkpoints(tmp_path, ["ldm"])["ldm"]
    model, _ = load_model(path)
    model.ae.latent_scale[0] = 0.0                   # as saved while the autoencoder still trains
    save_checkpoint(model, path)
    with pytest.raises(ValueError, match=r"best\.npz: this ldm model has not trained its denoiser yet"):
        load_served([str(path)])


def test_a_tang_poem_model_writes_acrostics_and_refuses_characters_it_never_saw(tmp_path):
    path = tiny_poem_checkpoint(tmp_path)
    with running(load_served([str(path)])) as server:
        status, listed = call(server.url + "api/models")
        assert status == 200 and listed["models"][0]["modes"]["acrostic"] == ["acrostic", "poems", "temperature",
                                                                               "top_k", "seed"]
        out = generate_ok(server, {"model": "poems", "mode": "acrostic", "acrostic": "春眠", "poems": 3, "seed": 5})
        assert len(out["poems"]) == 3 and all(p.startswith("春") for p in out["poems"])
        assert out["text"] == "\n".join(out["poems"])
        for heads, text in (("春晓天", "not in the model's vocabulary: '天'"), ("春眠不觉晓", "a string of 1..4 characters"),
                            ("，", "must be a Han character")):
            status, err = call(server.url + "api/generate", {"model": "poems", "mode": "acrostic", "acrostic": heads})
            assert status == 400 and err["field"] == "acrostic" and text in err["error"], err
