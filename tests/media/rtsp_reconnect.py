#!/usr/bin/env python3
"""RTSP source against a real server on loopback (tests/media/rtsp_server.py,
GStreamer rtsp-server): `vidpipe decode` reads frames over TCP; the server is
killed and started again on the same port; the source must log the drop and
the reconnection and go on delivering frames until --frames is reached. A
second, short run reads over UDP. Exit 77 when no GStreamer RTSP server or no
FFmpeg in vidpipe."""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def gi_python():
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py) and subprocess.run([py, "-c", probe], capture_output=True).returncode == 0:
            return py
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(py, port):
    p = subprocess.Popen([py, os.path.join(HERE, "rtsp_server.py"), str(port)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "READY" not in line:
        p.kill()
        raise RuntimeError(f"RTSP server did not start: {line!r}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    a = ap.parse_args()
    py = gi_python()
    if not py:
        print("SKIP: no GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0)")
        return 77
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/test"
    server = start_server(py, port)
    total, kill_at = 150, 40
    vp = subprocess.Popen([a.vidpipe, "decode", "--md5", "--frames", str(total), "--timeout-ms", "3000",
                           "--max-reconnects", "30", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines = []
    threading.Thread(target=lambda: err_lines.extend(vp.stderr), daemon=True).start()
    frames, at_kill, restarted = [], None, False
    deadline = time.time() + 90
    try:
        for line in vp.stdout:
            if line.startswith("frame "):
                frames.append(line.split())
            if len(frames) == kill_at and at_kill is None:
                at_kill = len(frames)
                server.send_signal(signal.SIGKILL)
                server.wait()
                time.sleep(2.5)
                server = start_server(py, port)
                restarted = True
            if time.time() > deadline:
                vp.kill()
                break
        rc = vp.wait(timeout=30)
    finally:
        server.kill()
        server.wait()
    time.sleep(0.2)
    err = "".join(err_lines)
    if rc != 0 and "no CPU decoder" in err:
        print(f"SKIP: {err.strip()}")
        return 77
    if rc == 2 and "no FFmpeg" in err:
        print(f"SKIP: {err.strip()}")
        return 77
    fails = []

    def check(name, cond, detail=""):
        print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
        if not cond:
            fails.append(name)

    check("TCP: decode exits 0", rc == 0, f"exit {rc}; stderr: {err[-800:]}")
    check(f"TCP: {total} frames in all, {total - kill_at} after the server came back",
          restarted and len(frames) == total, f"{len(frames)} frames, restarted {restarted}")
    check("TCP: frames are 320x240", all(f[3:5] == ["320", "240"] for f in frames), str(frames[:1]))
    check("TCP: 'connection lost (...), reconnecting in N s' logged",
          "connection lost (" in err and "reconnecting in" in err, err[-800:])
    check("TCP: 'reconnected' logged", "reconnected" in err, err[-800:])

    # UDP transport: a short read
    server = start_server(py, port)
    try:
        r = subprocess.run([a.vidpipe, "decode", "--md5", "--frames", "20", "--rtsp-transport", "udp",
                            "--timeout-ms", "3000", "--max-reconnects", "3", url],
                           capture_output=True, text=True, timeout=60)
    finally:
        server.kill()
        server.wait()
    n = sum(1 for l in r.stdout.splitlines() if l.startswith("frame "))
    check("UDP: 20 frames", r.returncode == 0 and n == 20, f"exit {r.returncode}, {n} frames, {r.stderr[-500:]}")
    print(f"rtsp_reconnect: {len(fails)} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
