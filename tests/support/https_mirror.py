"""A static HTTPS file server on 127.0.0.1 for the network mirror test (tests/e2e_release.rs).

    python https_mirror.py ROOT CERT_PEM KEY_PEM

Prints the port it listens on, then serves ROOT until killed; one line per request on stderr.
"""
import functools
import http.server
import ssl
import sys

root, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
