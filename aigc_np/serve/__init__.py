"""Deployment: trained models served on a local web page and a small JSON API (``python -m aigc_np serve``).

    python -m aigc_np serve out/demo/vae out/demo/cvae out/demo/names --port 8000

* ``models``: each checkpoint named at start, loaded once through the checkpoint reader, with the
  fields its kind's requests may hold and their bounds;
* ``fields``: the check of a request's fields (type and range), a 400 naming the field otherwise;
* ``generate``: a checked request -> images (PNG data URLs, ``png``) or text;
* ``server``: the routes, the limits on what a client sends, and the server itself;
* ``page.html``: the offline page, one panel per model.

See docs/serve.md for the API and lessons/21_deployment.py for the walk-through.
"""
from .fields import RequestError
from .generate import run_request
from .models import LIMITS, ServedModel, find_model, load_served
from .png import encode_png, png_data_url
from .server import MAX_BODY, MAX_HEADER_BYTES, MAX_IN_FLIGHT, ModelServer, make_server, running

__all__ = ["load_served", "ServedModel", "find_model", "LIMITS", "RequestError", "run_request", "encode_png",
           "png_data_url", "make_server", "running", "ModelServer", "MAX_BODY", "MAX_HEADER_BYTES", "MAX_IN_FLIGHT"]
