"""Delivering an issue: one message per active subscriber, exactly once, through the SMTP relay.

    lock       one send at a time per state file; a second one exits naming the first
    ratelimit  smtp.rate_per_second and smtp.rate_per_hour
    ledger     the delivery rows, and the outcome of each message
    queue      who goes next, and who waits out a retry delay
    sender     the threads, each with its own reused connection to the relay

The exactly-once protocol. The delivery ledger (table `deliveries`) is the truth. A row turns 'sent' the moment
the relay accepts the message and is committed at once, so a run killed at any point and started again skips
everyone already served. Before a message goes out its row says 'sending'; just before its final line it says
'committing', and only one message at a time, across all connections, is between that line and its 'sent'
record (the connections send their messages side by side, but take turns for that last line and its record).
After a kill, the one 'committing' row names the only message that can arrive twice.

A refusal for good (a 5xx, or a 4xx past smtp.retries) is held until the end of the run, and is final (the row
'failed', and a bounce when subscribers/bounces.py says it is the reader's) only if the relay accepted at least
5% of the issue's messages. Otherwise the relay is refusing the issue itself, not its readers: the held refusals
are put back ('deferred') for the next run, nobody is marked failed or bounced, the issue stays unsent and the
send's exit status says so; ten refusals in a row with so little accepted stop the send early.
"""
