# Runs a command on a pseudo-terminal, answering each prompt in turn, and prints what the terminal showed and the
# exit code as JSON: the test's way to see that a password prompt does not echo. Usage: pty-run.py ANSWERS_JSON CMD…
import json, os, pty, sys

answers = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b''
def read_more():
    global out
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        return False
    if not chunk:
        return False
    out += chunk
    return True
for prompt, answer in answers:
    while prompt.encode() not in out.split(b'\n')[-1]:
        if not read_more():
            break
    out += b'\n'  # so the next prompt is looked for after this one
    os.write(fd, answer.encode())
while read_more():
    pass
_, status = os.waitpid(pid, 0)
print(json.dumps({'output': out.decode('utf8', 'replace'), 'code': os.waitstatus_to_exitcode(status)}))
