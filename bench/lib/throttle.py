"""A rate-limited TCP relay on 127.0.0.1, for bench/run's `--compress` job: a slow link.

    throttle.py TARGET_PORT RATE_BITS_PER_SECOND STATS_FILE

Listens on a free port of 127.0.0.1 and prints it on its first line; relays every connection to
127.0.0.1:TARGET_PORT, each direction through its own token bucket of RATE bits per second
(bursts of at most 64 KiB), and when a connection closes, appends one line to STATS_FILE:
`<bytes client to server> <bytes server to client>`, the bytes on the wire. Runs until killed.
Only 127.0.0.1 is ever contacted.
"""
import socket
import sys
import threading
import time

CHUNK = 16 << 10
BURST = 64 << 10


class Bucket:
    """A token bucket in bytes: take(n) waits until n bytes may pass."""

    def __init__(self, bytes_per_second):
        self.rate = bytes_per_second
        self.tokens = BURST
        self.stamp = time.monotonic()

    def take(self, n):
        while True:
            now = time.monotonic()
            self.tokens = min(BURST, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= n:
                self.tokens -= n
                return
            time.sleep((n - self.tokens) / self.rate)


def pump(src, dst, bucket, counts, index):
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            bucket.take(len(data))
            dst.sendall(data)
            counts[index] += len(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(client, target_port, rate, stats_file, lock):
    counts = [0, 0]
    try:
        server = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = threading.Thread(target=pump, args=(client, server, Bucket(rate), counts, 0), daemon=True)
    down = threading.Thread(target=pump, args=(server, client, Bucket(rate), counts, 1), daemon=True)
    up.start()
    down.start()
    up.join()
    down.join()
    client.close()
    server.close()
    with lock, open(stats_file, "a") as f:
        f.write(f"{counts[0]} {counts[1]}\n")


def main():
    target_port, rate_bits, stats_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    lock = threading.Lock()
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, target_port, rate_bits / 8, stats_file, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
