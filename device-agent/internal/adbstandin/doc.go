// Package adbstandin is a stand-in for the adb client, for the tests of the
// device farm (device-agent/internal/farm). It is not adb and talks to no
// phone: each "phone" is a directory on this host, and its "shell" is this
// host's /bin/sh. Tests run the real Linux agent binary as the phone's
// agent, against a coordinator on a test database; nothing a stand-in
// phone measures reaches a real database.
//
// A test binary becomes the stand-in when it is executed under the name
// "adb" (a symlink) with ADB_STANDIN_DIR set: its TestMain calls Main. The
// directory holds one subdirectory per phone:
//
//	<dir>/<serial>/state    "device", "offline", "unauthorized"; absent: unplugged
//	<dir>/<serial>/reverse  one "tcp:N tcp:M" line per reverse rule
//	<dir>/<serial>/root/    the phone's file system below /data/local/tmp
//
// Emulated commands: `devices`, `version`, `get-state`, `-s SERIAL` (or
// ANDROID_SERIAL), `shell SCRIPT...` (the arguments joined by spaces and
// run by `sh -c`, standard input passed through, exit status returned),
// `push LOCAL REMOTE` and `reverse` (tcp:N rules; --list, --remove,
// --remove-all). Phone paths under /data/local/tmp are mapped to the
// phone's root, in push destinations and, by text substitution, in shell
// scripts. Reverse rules are recorded, not forwarded: the phones share
// this host's network, so their 127.0.0.1 is the host's already.
//
// What a real phone does on a USB disconnect is emulated by Phones:
// Disconnect unlists the phone, drops its reverse rules and ends its open
// shell sessions (its processes keep running, as on a phone); Reboot kills
// every process the phone's shells started. The stand-in runs on Linux only
// (it finds a phone's processes by their environment in /proc).
package adbstandin
