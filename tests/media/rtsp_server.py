#!/usr/bin/env python3
"""A real RTSP server on loopback for the reconnect test: GStreamer's
rtsp-server (python3-gi, gir1.2-gst-rtsp-server-1.0) serving a live 320x240
25 fps H.264 test pattern at rtsp://127.0.0.1:PORT/test. Prints READY once
listening; runs until killed."""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port = sys.argv[1]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 "
                   "! openh264enc gop-size=25 ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/test", factory)
if server.attach(None) == 0:
    print("cannot listen on port", port, flush=True)
    sys.exit(1)
print("READY", flush=True)
GLib.MainLoop().run()
