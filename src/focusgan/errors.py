"""The two kinds of failure the command line reports without a traceback.

`UserError` (exit status 2): bad usage or bad input, e.g. a missing file or a wrong flag.
`WorkError` (exit status 1): the work itself failed, e.g. a non-finite loss.
Both carry one line that says what is wrong and, where possible, how to fix it.
"""


class UserError(Exception):
    exit_code = 2


class WorkError(Exception):
    exit_code = 1
