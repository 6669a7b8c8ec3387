"""The `textgan` commands, one module per area; `cli.py` registers every click command found here.

Nothing but `cli.py` imports these modules (imports flow cli -> commands -> workflow -> core).
"""
