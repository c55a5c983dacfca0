# Sourced by tap_setup.sh and tap_test.sh (the guest side of the vm_tap test).

# run-vm.sh --pairs 2: pair 1 (spans 1 -> 2) carries what the PBX transmits, pair 2 (3 -> 4)
# what the carrier transmits; the daemon taps spans 2 and 4, the feeder writes on 1 and 3.
tap_pbx_span=2
tap_carrier_span=4
# test_vm_tap.cpp boots with --raw-dchan 4: span 4's D-channel is a clear channel (bchan=) that
# the daemon deframes itself; span 2's is dchan= (the driver's HDLC mode).
tap_raw_dchan_span=4

# Writes the daemon's configuration: $1 file, $2 site name, $3 extra text (a bad key). Records,
# control socket and log go where the service keeps them by default (/var/lib/trunkwatch,
# /run/trunkwatch/control, the journal); the high-risk list is the installed one.
write_config() {
  cat >"$1" <<CONF
[site]
name = "$2"
remote_access = ["2125550199"]
$3
[notices]
mask_digits = false

[daemon]
log_level = "info"
block_ms = 20
json_records = true

[[span]]
span = $tap_pbx_span
carrier_span = $tap_carrier_span
switchtype = "ni2"
pbx_side = "user"
name = "vm tap"
CONF
}
