// FleetCore: roster, tmux, systemd, /proc, heartbeat and their join. No Lua here.
