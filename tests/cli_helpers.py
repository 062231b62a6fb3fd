"""What the command-line tests share: a usage error's message, a one-line error's, and a checkpoint with an
edited config."""
import json

import numpy as np
import pytest

from aigc_np.cli import main


def usage_error(argv, capsys) -> str:
    """main(argv) must exit 2 (a usage error); returns what it printed on stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2, argv
    return capsys.readouterr().err


def one_line_error(argv, capsys) -> str:
    """main(argv) must exit 1 with one line on stderr, starting "error: "; returns it."""
    capsys.readouterr()
    assert main(argv) == 1, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def edited_checkpoint(path, out, **config):
    """A copy at ``out`` of the checkpoint at ``path`` whose metadata config has ``config`` on top."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["extra/metadata"]))
    meta["config"].update(config)
    arrays["extra/metadata"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)
    return out
