"""Tools around the course, each run with ``python -m``: the speed bench (``bench``), the student
edition and progress table (``coursework``), notebooks from the lessons (``notebooks``) and one
picture of every model (``montage``)."""
