#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Record what a real SMTP client sends, as a seed for fuzz/corpus.

    fuzz/record_session.py OUT LISTEN_PORT SERVER_PORT [CONFIG_BYTE]

Listens on 127.0.0.1:LISTEN_PORT for one connection, relays it to a server
on 127.0.0.1:SERVER_PORT, and writes CONFIG_BYTE (default 0, see
fuzz_channel.c) followed by every byte the client sent to OUT.  Point
smtplib, swaks or curl at LISTEN_PORT to make a seed of a real session.
"""
import selectors
import socket
import sys


def main():
    out, listen_port, server_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0
    with socket.create_server(('127.0.0.1', listen_port)) as ls:
        ls.settimeout(30)
        client, _ = ls.accept()
    server = socket.create_connection(('127.0.0.1', server_port), timeout=30)
    sent = bytearray([config])
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, server)
    sel.register(server, selectors.EVENT_READ, client)
    done = False
    while not done:
        events = sel.select(30)
        if not events:
            break
        for key, _ in events:
            data = key.fileobj.recv(65536)
            if not data:
                done = True
                break
            if key.fileobj is client:
                sent += data
            key.data.sendall(data)
    client.close()
    server.close()
    with open(out, 'wb') as f:
        f.write(sent)


if __name__ == '__main__':
    main()
