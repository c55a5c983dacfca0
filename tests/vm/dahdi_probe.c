/*
 * dahdi_probe: records what a userland program sees on real DAHDI devices.
 * Runs inside the test VM (tests/vm/run-vm.sh) against dahdi_dynamic_loc span pairs.
 * Built on the host with plain gcc against /usr/include/dahdi/user.h (package dahdi-source):
 *   gcc -O2 -Wall -Wextra -o dahdi_probe tests/vm/dahdi_probe.c
 *
 * Commands (spans and channel positions are DAHDI numbers; CHAN is the position in the span):
 *   spanstat SPAN...                 DAHDI_SPANSTAT on /dev/dahdi/ctl, every field
 *   alarms                           one line per span: name and alarm bits
 *   params SPAN CHAN                 DAHDI_GET_PARAMS and DAHDI_GET_BUFINFO of one channel
 *   hdlc SPAN_A SPAN_B DCHAN         HDLC frames between the D-channels (asserts delivery)
 *   audio SPAN_A SPAN_B CHAN SECS    B-channel audio A->B, rate and integrity (asserts)
 *   overrun SPAN CHAN                a B-channel reader stalls 300 ms: what is left, which events
 *   rawhdlc SPAN_A SPAN_B DCHAN      hand-made HDLC bit streams on A's D-channel (configured
 *                                    clear first) into B's HDLC receiver: good / bad FCS / abort
 *   watch SPAN CHAN SECS [MARK]      read a channel, print every event, alarm change and the
 *                                    read rate with timestamps; MARK is a file name: a line
 *                                    is printed when it appears (lets a script annotate)
 *   dyn-destroy DRIVER ADDR          DAHDI_DYNAMIC_DESTROY (e.g. loc 1:0)
 *   dyn-create DRIVER ADDR NCHANS [DCHAN]
 *                                    DAHDI_DYNAMIC_CREATE, prints the new span number; with
 *                                    DCHAN also configures its channels (see spanconfig)
 *   spanconfig SPAN DCHAN            DAHDI_CHANCONFIG for every channel of SPAN: all clear,
 *                                    DCHAN HDLCFCS (what dahdi_cfg does with system.conf)
 *   chanconfig CHANNO clear|hdlcfcs  DAHDI_CHANCONFIG for one global channel number
 * Lines starting with "PASS" / "FAIL" are assertions; "FINDING" lines are observations.
 * Exit status: 0 all assertions passed, 1 an assertion failed, 2 usage or setup error.
 */
#define _GNU_SOURCE
#include <dahdi/user.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int failures;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	printf("%s ", ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static const char *event_name(int e)
{
	static const char *names[] = {
		"NONE", "ONHOOK", "RINGOFFHOOK", "WINKFLASH", "ALARM", "NOALARM", "ABORT",
		"OVERRUN", "BADFCS", "DIALCOMPLETE", "RINGERON", "RINGEROFF", "HOOKCOMPLETE",
		"BITSCHANGED", "PULSE_START", "TIMER_EXPIRED", "TIMER_PING", "POLARITY",
		"RINGBEGIN", "EC_DISABLED", "REMOVED", "NEONMWI_ACTIVE", "NEONMWI_INACTIVE",
		"TX_CED_DETECTED", "RX_CED_DETECTED", "TX_CNG_DETECTED", "RX_CNG_DETECTED",
		"EC_NLP_DISABLED", "EC_NLP_ENABLED", "READ_OVERRUN", "WRITE_UNDERRUN",
	};
	if (e >= 0 && e < (int)(sizeof(names) / sizeof(names[0])))
		return names[e];
	return "?";
}

static const char *alarm_text(int a)
{
	static char buf[128];
	buf[0] = 0;
	if (a == 0)
		return "OK";
	if (a & DAHDI_ALARM_RECOVER)
		strcat(buf, "RECOVER ");
	if (a & DAHDI_ALARM_LOOPBACK)
		strcat(buf, "LOOPBACK ");
	if (a & DAHDI_ALARM_YELLOW)
		strcat(buf, "YELLOW ");
	if (a & DAHDI_ALARM_RED)
		strcat(buf, "RED ");
	if (a & DAHDI_ALARM_BLUE)
		strcat(buf, "BLUE ");
	if (a & DAHDI_ALARM_NOTOPEN)
		strcat(buf, "NOTOPEN ");
	if (a & DAHDI_ALARM_LOS)
		strcat(buf, "LOS ");
	if (buf[0])
		buf[strlen(buf) - 1] = 0;
	else
		snprintf(buf, sizeof(buf), "0x%x", a);
	return buf;
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case 0: return "NONE";
	case DAHDI_SIG_CLEAR: return "CLEAR";
	case DAHDI_SIG_HDLCRAW: return "HDLCRAW";
	case DAHDI_SIG_HDLCFCS: return "HDLCFCS";
	case DAHDI_SIG_HDLCNET: return "HDLCNET";
	case DAHDI_SIG_HARDHDLC: return "HARDHDLC";
	default: return "other";
	}
}

static void hexdump(const char *label, const unsigned char *p, int n)
{
	printf("%s (%d bytes):", label, n);
	for (int i = 0; i < n && i < 48; i++)
		printf(" %02x", p[i]);
	if (n > 48)
		printf(" ...");
	printf("\n");
}

/* X.25 / Q.921 FCS: CRC-16/CCITT reflected, init 0xffff, complemented, sent low byte first. */
static uint16_t fcs16(const unsigned char *p, int n)
{
	uint16_t crc = 0xffff;
	for (int i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x8408 : crc >> 1;
	}
	return ~crc;
}

static int ctl_fd(void)
{
	static int fd = -1;
	if (fd < 0) {
		fd = open("/dev/dahdi/ctl", O_RDWR);
		if (fd < 0) {
			perror("open /dev/dahdi/ctl");
			exit(2);
		}
	}
	return fd;
}

static int spanstat(int span, struct dahdi_spaninfo *si)
{
	memset(si, 0, sizeof(*si));
	si->spanno = span;
	return ioctl(ctl_fd(), DAHDI_SPANSTAT, si);
}

static int open_chan(int span, int chan)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/dahdi/chan/%03d/%03d", span, chan);
	int fd = open(path, O_RDWR | O_NONBLOCK);
	if (fd < 0)
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
	return fd;
}

static int get_event(int fd)
{
	int e = -1;
	if (ioctl(fd, DAHDI_GETEVENT, &e) < 0) {
		perror("DAHDI_GETEVENT");
		return -1;
	}
	return e;
}

static void print_params(int fd, const char *label)
{
	struct dahdi_params p;
	struct dahdi_bufferinfo bi;
	memset(&p, 0, sizeof(p));
	p.channo = -1; /* this fd's channel */
	if (ioctl(fd, DAHDI_GET_PARAMS, &p) == 0)
		printf("FINDING %s params: channo=%d spanno=%d chanpos=%d name=\"%s\" sigtype=0x%x(%s) "
		       "sigcap=0x%x curlaw=%d idlebits=%d chan_alarms=0x%x\n",
		       label, p.channo, p.spanno, p.chanpos, p.name, p.sigtype,
		       sig_name(p.sigtype), p.sigcap, p.curlaw, p.idlebits, p.chan_alarms);
	else
		printf("FINDING %s DAHDI_GET_PARAMS failed: %s\n", label, strerror(errno));
	if (ioctl(fd, DAHDI_GET_BUFINFO, &bi) == 0)
		printf("FINDING %s bufinfo: txbufpolicy=%d rxbufpolicy=%d numbufs=%d bufsize=%d "
		       "readbufs=%d writebufs=%d\n",
		       label, bi.txbufpolicy, bi.rxbufpolicy, bi.numbufs, bi.bufsize, bi.readbufs,
		       bi.writebufs);
	else
		printf("FINDING %s DAHDI_GET_BUFINFO failed: %s\n", label, strerror(errno));
}

static int cmd_spanstat(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		struct dahdi_spaninfo si;
		int span = atoi(argv[i]);
		if (spanstat(span, &si) < 0) {
			printf("FINDING span %d DAHDI_SPANSTAT failed: %s\n", span, strerror(errno));
			failures++;
			continue;
		}
		printf("FINDING span %d SPANSTAT: name=\"%s\" desc=\"%s\" alarms=0x%x(%s) spantype=\"%.6s\" "
		       "numchans=%d totalchans=%d totalspans=%d lineconfig=0x%x linecompat=0x%x lbo=%d "
		       "lboname=\"%s\" syncsrc=%d txlevel=%d rxlevel=%d bpvcount=%d crc4count=%d "
		       "ebitcount=%d fascount=%d fecount=%u cvcount=%u becount=%u prbs=%u errsec=%u "
		       "irqmisses=%d irq=%d location=\"%s\" manufacturer=\"%s\" devicetype=\"%s\"\n",
		       si.spanno, si.name, si.desc, si.alarms, alarm_text(si.alarms), si.spantype,
		       si.numchans, si.totalchans, si.totalspans, si.lineconfig, si.linecompat, si.lbo,
		       si.lboname, si.syncsrc, si.txlevel, si.rxlevel, si.bpvcount, si.crc4count,
		       si.ebitcount, si.fascount, si.fecount, si.cvcount, si.becount, si.prbs,
		       si.errsec, si.irqmisses, si.irq, si.location, si.manufacturer, si.devicetype);
	}
	return failures ? 1 : 0;
}

/* One line per span: its alarm state (DAHDI_SPANSTAT). Unassigned span numbers are skipped. */
static int cmd_alarms(void)
{
	struct dahdi_spaninfo si;
	for (int span = 1; span <= DAHDI_MAX_SPANS && span <= 64; span++) {
		if (spanstat(span, &si) < 0)
			continue;
		printf("span %d: %s alarms 0x%x (%s)\n", span, si.name, si.alarms, alarm_text(si.alarms));
	}
	return 0;
}

static int cmd_params(int span, int chan)
{
	int fd = open_chan(span, chan);
	if (fd < 0)
		return 2;
	char label[32];
	snprintf(label, sizeof(label), "chan %d/%d", span, chan);
	print_params(fd, label);
	close(fd);
	return 0;
}

/* Reads one frame (or one block) with a timeout, handling ELAST by fetching the event.
 * Returns the length, 0 on timeout, -1 on error. Events are printed with `who`. */
static int read_frame(int fd, unsigned char *buf, int size, int timeout_ms, const char *who,
		      int *events_seen)
{
	double deadline = now() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - now()) * 1000);
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLPRI };
		int r = poll(&pfd, 1, left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return -1;
		}
		if (r == 0)
			return 0;
		int n = read(fd, buf, size);
		if (n >= 0)
			return n;
		if (errno == ELAST) {
			int e = get_event(fd);
			printf("FINDING %s: read() returned -1/ELAST (revents 0x%x), DAHDI_GETEVENT = %d (%s)\n",
			       who, pfd.revents, e, event_name(e));
			if (events_seen)
				(*events_seen)++;
			continue;
		}
		if (errno == EAGAIN)
			continue;
		printf("FINDING %s: read() failed: %s\n", who, strerror(errno));
		return -1;
	}
}

static void drain(int fd, const char *who, int ms)
{
	unsigned char buf[2048];
	int n, events = 0;
	while ((n = read_frame(fd, buf, sizeof(buf), ms, who, &events)) > 0)
		hexdump("FINDING drained before the test", buf, n);
	if (events == 0)
		printf("FINDING %s: nothing pending after open (no events, no data)\n", who);
}

/* Sends `len` payload bytes (+2 reserved for the FCS) on wfd and checks they arrive on rfd. */
static void frame_roundtrip(int wfd, int rfd, const unsigned char *payload, int len,
			    const char *what)
{
	unsigned char out[1100], in[2048];
	memcpy(out, payload, len);
	out[len] = out[len + 1] = 0;
	int w = write(wfd, out, len + 2);
	if (w != len + 2) {
		check(0, "%s: write(%d) returned %d (%s)", what, len + 2, w, w < 0 ? strerror(errno) : "");
		return;
	}
	double t0 = now();
	int n = read_frame(rfd, in, sizeof(in), 2000, what, NULL);
	double dt = now() - t0;
	if (n <= 0) {
		check(0, "%s: nothing received within 2 s", what);
		return;
	}
	int fcs_ok = 0;
	if (n == len + 2) {
		uint16_t f = fcs16(in, len);
		fcs_ok = in[len] == (f & 0xff) && in[len + 1] == (f >> 8);
	}
	printf("FINDING %s: wrote %d (payload %d + 2), read %d bytes after %.1f ms; trailing 2 bytes "
	       "%02x %02x are %s\n",
	       what, len + 2, len, n, dt * 1000, n >= 2 ? in[n - 2] : 0, n >= 2 ? in[n - 1] : 0,
	       n == len + 2 ? (fcs_ok ? "the valid FCS of the payload" : "NOT a valid FCS")
			    : "(length differs)");
	check(n == len + 2 && memcmp(in, payload, len) == 0,
	      "%s: frame arrives intact with 2 FCS bytes appended (%d -> %d bytes)", what, len, n);
	check(fcs_ok, "%s: the 2 trailing bytes are the CRC-16/X.25 FCS (low byte first)", what);
}

static int cmd_hdlc(int span_a, int span_b, int dchan)
{
	char who_a[32], who_b[32];
	snprintf(who_a, sizeof(who_a), "D-chan %d/%d", span_a, dchan);
	snprintf(who_b, sizeof(who_b), "D-chan %d/%d", span_b, dchan);
	int a = open_chan(span_a, dchan), b = open_chan(span_b, dchan);
	if (a < 0 || b < 0)
		return 2;
	print_params(a, who_a);
	struct dahdi_bufferinfo bi = {
		.txbufpolicy = DAHDI_POLICY_IMMEDIATE, .rxbufpolicy = DAHDI_POLICY_IMMEDIATE,
		.numbufs = 16, .bufsize = 1024,
	};
	for (int fd = a, i = 0; i < 2; fd = b, i++)
		if (ioctl(fd, DAHDI_SET_BUFINFO, &bi) < 0)
			printf("FINDING DAHDI_SET_BUFINFO(16 x 1024, immediate) failed: %s\n", strerror(errno));
	print_params(b, who_b);
	drain(b, who_b, 300);
	drain(a, who_a, 10);

	/* SABME, SAPI 0 TEI 0, C/R=1 (network side command) */
	static const unsigned char sabme[] = { 0x02, 0x01, 0x7f };
	frame_roundtrip(a, b, sabme, sizeof(sabme), "SABME span A->B");
	frame_roundtrip(b, a, sabme, sizeof(sabme), "SABME span B->A");

	unsigned char big[264];
	big[0] = 0x00; big[1] = 0x01; big[2] = 0x00; big[3] = 0x00;
	for (int i = 4; i < (int)sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 0x7e); /* includes 0x7e and 0x7d: stuffing */
	frame_roundtrip(a, b, big, sizeof(big), "264-byte I-frame A->B");

	/* a burst of frames written back to back: all delivered, in order, one per read() */
	int ok = 1, got = 0;
	for (int i = 0; i < 10; i++) {
		unsigned char f[40];
		int len = 4 + i * 3;
		memset(f, 0, sizeof(f));
		f[0] = 0x02; f[1] = 0x01; f[2] = (unsigned char)(i << 1); f[3] = 0;
		for (int j = 4; j < len; j++)
			f[j] = (unsigned char)i;
		if (write(a, f, len + 2) != len + 2) {
			printf("FINDING burst: write %d failed: %s\n", i, strerror(errno));
			ok = 0;
		}
	}
	for (int i = 0; i < 10; i++) {
		unsigned char in[256];
		int n = read_frame(b, in, sizeof(in), 2000, "burst", NULL);
		if (n != 4 + i * 3 + 2 || in[2] != (unsigned char)(i << 1)) {
			printf("FINDING burst frame %d: read %d bytes, control 0x%02x\n", i, n, n > 2 ? in[2] : 0);
			ok = 0;
			if (n <= 0)
				break;
		}
		got++;
	}
	check(ok && got == 10, "burst of 10 frames arrives in order, one frame per read() (%d read)", got);

	/* What a too-small read buffer does to a frame. */
	unsigned char f[20] = { 0x02, 0x01, 0x03, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
	if (write(a, f, 12) == 12) {
		unsigned char in[64];
		int n = read_frame(b, in, 4, 1000, "short read", NULL);
		int n2 = read_frame(b, in, sizeof(in), 300, "short read (rest)", NULL);
		printf("FINDING reading a 12-byte frame with a 4-byte buffer returns %d, the next read "
		       "returns %d (%s)\n", n, n2,
		       n2 > 0 ? "the rest is delivered separately" : "the rest of the frame is discarded");
	}
	/* A write of only 2 bytes (no payload). */
	unsigned char two[2] = { 0, 0 };
	errno = 0;
	int w = write(a, two, 2);
	unsigned char in[64];
	int n = read_frame(b, in, sizeof(in), 500, "2-byte write", NULL);
	printf("FINDING write() of 2 bytes (FCS space only) returned %d (%s); the peer read %d bytes\n",
	       w, w < 0 ? strerror(errno) : "ok", n);

	close(a);
	close(b);
	return failures ? 1 : 0;
}

static int cmd_audio(int span_a, int span_b, int chan, int seconds)
{
	int a = open_chan(span_a, chan), b = open_chan(span_b, chan);
	if (a < 0 || b < 0)
		return 2;
	int bs = 160;
	if (ioctl(a, DAHDI_SET_BLOCKSIZE, &bs) < 0 || ioctl(b, DAHDI_SET_BLOCKSIZE, &bs) < 0)
		printf("FINDING DAHDI_SET_BLOCKSIZE 160 failed: %s\n", strerror(errno));
	char label[32];
	snprintf(label, sizeof(label), "B-chan %d/%d", span_b, chan);
	print_params(b, label);

	unsigned char out[160], in[1024];
	unsigned char next_out = 0, expect = 0;
	long total = 0, in_seq = 0, run = 0, breaks = 0, reads = 0, short_reads = 0, writes = 0,
	     eagain = 0, events = 0;
	long pre_sync_bytes = 0, hist[256] = { 0 };
	int synced = 0;
	double t_start = now(), t_first_read = 0, t_last_read = 0, t_sync = 0;
	double t_end = t_start + seconds;
	while (now() < t_end) {
		struct pollfd p[2] = { { .fd = a, .events = POLLOUT | POLLPRI },
				       { .fd = b, .events = POLLIN | POLLPRI } };
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLOUT) {
			for (int i = 0; i < 160; i++)
				out[i] = next_out++;
			int w = write(a, out, sizeof(out));
			if (w == (int)sizeof(out))
				writes++;
			else if (w < 0 && errno == EAGAIN) {
				next_out -= 160;
				eagain++;
			} else if (w < 0 && errno == ELAST) {
				next_out -= 160;
				int e = get_event(a);
				printf("FINDING writer got ELAST, event %d (%s)\n", e, event_name(e));
			} else {
				printf("FINDING writer: write returned %d (%s)\n", w, strerror(errno));
				next_out -= 160;
			}
		}
		if (p[1].revents & (POLLIN | POLLPRI)) {
			int n = read(b, in, sizeof(in));
			if (n < 0 && errno == ELAST) {
				int e = get_event(b);
				printf("FINDING reader got ELAST, event %d (%s)\n", e, event_name(e));
				events++;
				continue;
			}
			if (n <= 0)
				continue;
			double t = now();
			if (!reads)
				t_first_read = t;
			t_last_read = t;
			reads++;
			if (n != 160)
				short_reads++;
			total += n;
			for (int i = 0; i < n; i++) {
				unsigned char c = in[i];
				if (!synced) {
					run = (c == expect && run > 0) ? run + 1 : 1;
					hist[c]++;
					expect = c + 1;
					pre_sync_bytes++;
					if (run >= 32) {
						synced = 1;
						t_sync = t;
						in_seq = run;
						/* the run itself was the pattern, not idle fill */
						pre_sync_bytes -= run;
						for (long k = 0; k < run; k++)
							hist[(unsigned char)(c - k)]--;
					}
				} else if (c == expect) {
					in_seq++;
					expect++;
				} else {
					breaks++;
					expect = c + 1;
				}
			}
		}
	}
	double rate = (t_last_read > t_first_read) ? total / (t_last_read - t_first_read) : 0;
	int idle = 0;
	for (int i = 1; i < 256; i++)
		if (hist[i] > hist[idle])
			idle = i;
	char idle_text[32] = "no idle fill";
	if (pre_sync_bytes > 0)
		snprintf(idle_text, sizeof(idle_text), "mostly 0x%02x", idle);
	printf("FINDING audio %d/%d -> %d/%d: %ld bytes in %ld reads (%ld not 160 bytes) over %.3f s = "
	       "%.0f bytes/s; %ld writes of 160 (%ld EAGAIN); pattern seen %.0f ms after the first write "
	       "(%ld bytes before it, %s); %ld bytes in sequence after that, %ld "
	       "discontinuities, %ld events\n",
	       span_a, chan, span_b, chan, total, reads, short_reads, t_last_read - t_first_read, rate,
	       writes, eagain, synced ? (t_sync - t_start) * 1000 : -1.0, pre_sync_bytes, idle_text,
	       in_seq, breaks, events);
	check(synced, "audio written on span %d channel %d arrives on span %d channel %d", span_a, chan,
	      span_b, chan);
	check(rate > 7200 && rate < 8800, "B-channel read rate %.0f bytes/s is 8000 +- 10%%", rate);
	check(in_seq >= 8000L * (seconds - 1) * 9 / 10,
	      "%ld bytes arrived in sequence (>= 90%% of %d s after sync)", in_seq, seconds - 1);
	close(a);
	close(b);
	return failures ? 1 : 0;
}

/* HDLC bit stream encoder for the rawhdlc test: zero insertion after five ones; each octet
 * goes out least significant bit first (as on the line), and DAHDI's soft HDLC (fasthdlc.h)
 * takes the first line bit from the MOST significant bit of each channel byte. */
struct bitw {
	unsigned char out[4096];
	int n, bitpos, ones;
	unsigned cur;
};

static void put_bit(struct bitw *w, int bit)
{
	w->cur |= (unsigned)bit << (7 - w->bitpos);
	if (++w->bitpos == 8) {
		w->out[w->n++] = (unsigned char)w->cur;
		w->cur = 0;
		w->bitpos = 0;
	}
}

static void put_raw(struct bitw *w, unsigned char v)
{
	for (int i = 0; i < 8; i++)
		put_bit(w, (v >> i) & 1);
	w->ones = 0;
}

static void put_stuffed(struct bitw *w, unsigned char v)
{
	for (int i = 0; i < 8; i++) {
		int bit = (v >> i) & 1;
		put_bit(w, bit);
		if (!bit) {
			w->ones = 0;
		} else if (++w->ones == 5) {
			put_bit(w, 0);
			w->ones = 0;
		}
	}
}

static void put_pad(struct bitw *w)
{
	while (w->bitpos)
		put_bit(w, 1);
}

/* Writes a bit stream on a clear channel, blocksize bytes at a time. */
static int write_all(int fd, const unsigned char *p, int n)
{
	int done = 0;
	while (done < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, 1000) <= 0)
			return -1;
		int w = write(fd, p + done, n - done > 160 ? 160 : n - done);
		if (w < 0 && errno == EAGAIN)
			continue;
		if (w < 0 && errno == ELAST) {
			get_event(fd);
			continue;
		}
		if (w <= 0)
			return -1;
		done += w;
	}
	return done;
}

/* Span A's D-channel must be configured as a clear channel (chanconfig N clear) and span B's
 * as HDLCFCS: the probe writes hand-made HDLC bit streams on A and records what the HDLC
 * receiver of B delivers: a good frame, a frame with a bad FCS, an aborted frame. */
static int cmd_rawhdlc(int span_a, int span_b, int dchan)
{
	int a = open_chan(span_a, dchan), b = open_chan(span_b, dchan);
	if (a < 0 || b < 0)
		return 2;
	char who_a[32];
	snprintf(who_a, sizeof(who_a), "D-chan %d/%d (clear)", span_a, dchan);
	print_params(a, who_a);
	int bs = 160;
	ioctl(a, DAHDI_SET_BLOCKSIZE, &bs);
	drain(b, "raw HDLC receiver", 300);

	static const unsigned char payload[] = { 0x00, 0x01, 0x01, 0x05, 0x08, 0x01, 0x8a, 0x05 };
	const int len = sizeof(payload);
	uint16_t f = fcs16(payload, len);
	static const char *what[] = { "good frame", "frame with a bad FCS", "aborted frame" };
	for (int kind = 0; kind < 3; kind++) {
		struct bitw w;
		memset(&w, 0, sizeof(w));
		for (int i = 0; i < 4; i++)
			put_raw(&w, 0x7e);
		for (int i = 0; i < len; i++)
			put_stuffed(&w, payload[i]);
		if (kind == 2) {
			put_raw(&w, 0xff); /* seven or more ones: abort */
			put_raw(&w, 0xff);
		} else {
			unsigned char lo = f & 0xff, hi = f >> 8;
			if (kind == 1)
				lo ^= 0x5a;
			put_stuffed(&w, lo);
			put_stuffed(&w, hi);
			put_raw(&w, 0x7e);
		}
		for (int i = 0; i < 8; i++)
			put_raw(&w, 0x7e);
		put_pad(&w);
		if (write_all(a, w.out, w.n) != w.n) {
			check(0, "raw HDLC %s: writing %d bytes on the clear channel failed", what[kind], w.n);
			continue;
		}
		unsigned char in[256];
		int events = 0;
		int n = read_frame(b, in, sizeof(in), 1500, what[kind], &events);
		printf("FINDING raw HDLC %s: the HDLCFCS reader got %d bytes and %d event(s)\n", what[kind],
		       n, events);
		if (n > 0)
			hexdump("FINDING   bytes", in, n);
		if (kind == 0)
			check(n == len + 2 && memcmp(in, payload, len) == 0,
			      "raw HDLC good frame decoded by the receiver (payload + 2 FCS bytes)");
	}
	close(a);
	close(b);
	return failures ? 1 : 0;
}

/* Reads everything queued on a non-blocking fd; returns bytes, counts events. */
static long read_pending(int fd, int *events, const char *who)
{
	unsigned char buf[4096];
	long total = 0;
	for (;;) {
		int n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			total += n;
			continue;
		}
		if (n < 0 && errno == ELAST) {
			int e = get_event(fd);
			printf("FINDING %s: ELAST, DAHDI_GETEVENT %d (%s)\n", who, e, event_name(e));
			(*events)++;
			continue;
		}
		return total;
	}
}

/* What a B-channel reader that stalls for 300 ms finds: with the default 2 buffers and with 32,
 * and whether DAHDI_EVENT_READ_OVERRUN arrives once DAHDI_BUFFER_EVENTS is on. */
static int cmd_overrun(int span, int chan)
{
	int fd = open_chan(span, chan);
	if (fd < 0)
		return 2;
	int bs = 160, on = 1;
	ioctl(fd, DAHDI_SET_BLOCKSIZE, &bs);
	if (ioctl(fd, DAHDI_BUFFER_EVENTS, &on) < 0)
		printf("FINDING DAHDI_BUFFER_EVENTS failed: %s\n", strerror(errno));
	char who[32];
	snprintf(who, sizeof(who), "B-chan %d/%d", span, chan);
	for (int round = 0; round < 2; round++) {
		struct dahdi_bufferinfo bi;
		ioctl(fd, DAHDI_GET_BUFINFO, &bi);
		if (round == 1) {
			bi.numbufs = 32;
			if (ioctl(fd, DAHDI_SET_BUFINFO, &bi) < 0)
				printf("FINDING DAHDI_SET_BUFINFO numbufs=32: %s\n", strerror(errno));
			ioctl(fd, DAHDI_GET_BUFINFO, &bi);
		}
		int events = 0;
		usleep(100000);
		read_pending(fd, &events, who);
		events = 0;
		usleep(300000);
		long got = read_pending(fd, &events, who);
		printf("FINDING %s: numbufs=%d bufsize=%d, reader stalled 300 ms (2400 bytes produced): "
		       "%ld bytes were waiting, %d event(s)\n",
		       who, bi.numbufs, bi.bufsize, got, events);
	}
	close(fd);
	return 0;
}

static int file_exists(const char *p)
{
	return p && access(p, F_OK) == 0;
}

static int cmd_watch(int span, int chan, double seconds, const char *mark)
{
	int fd = open_chan(span, chan);
	if (fd < 0)
		return 2;
	/* B-channels: 20 ms blocks; HDLC channels keep their buffer size (the largest frame) */
	struct dahdi_params par;
	memset(&par, 0, sizeof(par));
	par.channo = -1;
	if (ioctl(fd, DAHDI_GET_PARAMS, &par) == 0 && par.sigtype == DAHDI_SIG_CLEAR) {
		int bs = 160;
		ioctl(fd, DAHDI_SET_BLOCKSIZE, &bs);
	}
	struct dahdi_spaninfo si;
	int last_alarms = -1, mark_seen = 0;
	long bytes = 0, frames = 0, bytes_total = 0;
	int vmin = 256, vmax = -1;
	double t0 = now(), next_report = t0 + 1, t_end = t0 + seconds;
	unsigned char buf[2048];
	printf("watch %d/%d: t=0.000 start\n", span, chan);
	while (now() < t_end) {
		double t = now() - t0;
		if (spanstat(span, &si) == 0) {
			if (si.alarms != last_alarms)
				printf("watch %d/%d: t=%.3f SPANSTAT alarms 0x%x (%s)\n", span, chan, t,
				       si.alarms, alarm_text(si.alarms));
			last_alarms = si.alarms;
		} else if (last_alarms != -2) {
			printf("watch %d/%d: t=%.3f DAHDI_SPANSTAT(%d) fails: %s\n", span, chan, t, span,
			       strerror(errno));
			last_alarms = -2;
		}
		if (!mark_seen && file_exists(mark)) {
			mark_seen = 1;
			printf("watch %d/%d: t=%.3f ---- %s appeared ----\n", span, chan, t, mark);
		}
		if (now() >= next_report) {
			if (bytes && vmin == vmax)
				printf("watch %d/%d: t=%.3f read %ld bytes (%ld reads) in the last second, all 0x%02x\n",
				       span, chan, t, bytes, frames, vmin);
			else if (bytes)
				printf("watch %d/%d: t=%.3f read %ld bytes (%ld reads) in the last second, values "
				       "0x%02x..0x%02x\n", span, chan, t, bytes, frames, vmin, vmax);
			else
				printf("watch %d/%d: t=%.3f read nothing in the last second\n", span, chan, t);
			bytes = frames = 0;
			vmin = 256;
			vmax = -1;
			next_report += 1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLPRI };
		int r = poll(&p, 1, 50);
		if (r <= 0)
			continue;
		int n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			bytes += n;
			bytes_total += n;
			frames++;
			for (int i = 0; i < n; i++) {
				if (buf[i] < vmin)
					vmin = buf[i];
				if (buf[i] > vmax)
					vmax = buf[i];
			}
		} else if (n < 0 && errno == ELAST) {
			int e = get_event(fd);
			printf("watch %d/%d: t=%.3f read -1 ELAST (revents 0x%x) -> DAHDI_GETEVENT %d (%s)\n",
			       span, chan, now() - t0, p.revents, e, event_name(e));
		} else if (n < 0 && errno == ENODEV) {
			printf("watch %d/%d: t=%.3f read error: %s (poll revents 0x%x): the channel is gone, "
			       "stopping\n", span, chan, now() - t0, strerror(errno), p.revents);
			break;
		} else if (n < 0 && errno != EAGAIN) {
			printf("watch %d/%d: t=%.3f read error: %s\n", span, chan, now() - t0, strerror(errno));
			usleep(100000);
		} else if (n == 0) {
			printf("watch %d/%d: t=%.3f read returned 0\n", span, chan, now() - t0);
			usleep(100000);
		}
	}
	printf("watch %d/%d: t=%.3f end, %ld bytes in total\n", span, chan, now() - t0, bytes_total);
	close(fd);
	return 0;
}

static void fill_dyn(struct dahdi_dynamic_span *d, const char *driver, const char *addr)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->driver, sizeof(d->driver), "%s", driver);
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
}

static int cmd_dyn_destroy(const char *driver, const char *addr)
{
	struct dahdi_dynamic_span d;
	fill_dyn(&d, driver, addr);
	if (ioctl(ctl_fd(), DAHDI_DYNAMIC_DESTROY, &d) < 0) {
		printf("dyn-destroy %s %s: %s\n", driver, addr, strerror(errno));
		return 1;
	}
	printf("dyn-destroy %s %s: ok\n", driver, addr);
	return 0;
}

static int chanconfig(int channo, int sigtype)
{
	struct dahdi_chanconfig cc;
	memset(&cc, 0, sizeof(cc));
	cc.chan = channo;
	cc.sigtype = sigtype;
	if (ioctl(ctl_fd(), DAHDI_CHANCONFIG, &cc) < 0) {
		printf("DAHDI_CHANCONFIG channel %d sigtype 0x%x: %s\n", channo, sigtype, strerror(errno));
		return -1;
	}
	return 0;
}

static int sysfs_int(int span, const char *attr)
{
	char path[96];
	int v = -1;
	snprintf(path, sizeof(path), "/sys/bus/dahdi_spans/devices/span-%d/%s", span, attr);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%d", &v) != 1)
		printf("cannot read %s\n", path);
	if (f)
		fclose(f);
	return v;
}

/* Configures every channel of a span like system.conf does: clear, DCHAN as HDLCFCS. */
static int cmd_spanconfig(int span, int dchan)
{
	int base = sysfs_int(span, "basechan"), nchans = sysfs_int(span, "channels");
	if (base <= 0 || nchans <= 0)
		return 1;
	int bad = 0;
	for (int i = 1; i <= nchans; i++)
		bad |= chanconfig(base + i - 1, i == dchan ? DAHDI_SIG_HDLCFCS : DAHDI_SIG_CLEAR);
	printf("span %d: configured channels %d-%d clear, %d HDLCFCS%s\n", span, base,
	       base + nchans - 1, base + dchan - 1, bad ? " (with errors)" : "");
	return bad ? 1 : 0;
}

/* Creates a dynamic span; with DCHAN also configures its channels (see spanconfig). */
static int cmd_dyn_create(const char *driver, const char *addr, int nchans, int dchan)
{
	struct dahdi_dynamic_span d;
	fill_dyn(&d, driver, addr);
	d.numchans = nchans;
	if (ioctl(ctl_fd(), DAHDI_DYNAMIC_CREATE, &d) < 0) {
		printf("dyn-create %s %s: %s\n", driver, addr, strerror(errno));
		return 1;
	}
	printf("dyn-create %s %s: span %d\n", driver, addr, d.spanno);
	return dchan > 0 ? cmd_spanconfig(d.spanno, dchan) : 0;
}

static int cmd_chanconfig(int channo, const char *type)
{
	return chanconfig(channo, strcmp(type, "hdlcfcs") == 0 ? DAHDI_SIG_HDLCFCS : DAHDI_SIG_CLEAR)
		       ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: dahdi_probe spanstat SPAN... | alarms | params SPAN CHAN | hdlc SPAN_A SPAN_B DCHAN |\n"
		"       audio SPAN_A SPAN_B CHAN SECONDS | overrun SPAN CHAN | rawhdlc SPAN_A SPAN_B DCHAN |\n"
		"       watch SPAN CHAN SECONDS [MARKFILE] |\n"
		"       dyn-destroy DRIVER ADDR | dyn-create DRIVER ADDR NCHANS [DCHAN] |\n"
		"       spanconfig SPAN DCHAN | chanconfig CHANNO clear|hdlcfcs\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (!strcmp(cmd, "spanstat") && argc >= 3)
		return cmd_spanstat(argc - 2, argv + 2);
	if (!strcmp(cmd, "alarms") && argc == 2)
		return cmd_alarms();
	if (!strcmp(cmd, "params") && argc == 4)
		return cmd_params(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(cmd, "hdlc") && argc == 5)
		return cmd_hdlc(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(cmd, "audio") && argc == 6)
		return cmd_audio(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(cmd, "overrun") && argc == 4)
		return cmd_overrun(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(cmd, "rawhdlc") && argc == 5)
		return cmd_rawhdlc(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(cmd, "watch") && (argc == 5 || argc == 6))
		return cmd_watch(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), argc == 6 ? argv[5] : NULL);
	if (!strcmp(cmd, "dyn-destroy") && argc == 4)
		return cmd_dyn_destroy(argv[2], argv[3]);
	if (!strcmp(cmd, "dyn-create") && (argc == 5 || argc == 6))
		return cmd_dyn_create(argv[2], argv[3], atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
	if (!strcmp(cmd, "spanconfig") && argc == 4)
		return cmd_spanconfig(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(cmd, "chanconfig") && argc == 4)
		return cmd_chanconfig(atoi(argv[2]), argv[3]);
	return usage();
}
