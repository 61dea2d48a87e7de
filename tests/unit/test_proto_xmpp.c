// SPDX-License-Identifier: GPL-2.0
/* XMPP probe: stream headers, at every prefix. */
#include "probe.h"

extern const struct proto proto_xmpp;

static struct sniff s;

#define L(str) str, sizeof(str) - 1

/* What a client such as Gajim or profanity sends first. */
static const char client[] =
	"<?xml version='1.0'?><stream:stream to='Example.COM.' version='1.0' "
	"xml:lang='en' xmlns='jabber:client' "
	"xmlns:stream='http://etherx.jabber.org/streams'>";

TEST(client_stream)
{
	probe_sweep(_u, &proto_xmpp, L(client), SNIFF_MATCH, 0, &s);
	CHECK(s.has_host);
	CHECK_STR(s.host, "example.com");
}
TEST(no_declaration)
{
	static const char b[] = "<stream:stream xmlns='jabber:server' to=\"chat.example.org\" version=\"1.0\">";

	probe_sweep(_u, &proto_xmpp, L(b), SNIFF_MATCH, 0, &s);
	CHECK_STR(s.host, "chat.example.org");
}
TEST(no_to)
{
	static const char b[] = "<stream:stream xmlns='jabber:client' version='1.0'>";

	probe_sweep(_u, &proto_xmpp, L(b), SNIFF_MATCH, 0, &s);
	CHECK(!s.has_host);
}
TEST(decl_newline)
{
	static const char b[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<stream:stream to='a.example'>";

	probe_sweep(_u, &proto_xmpp, L(b), SNIFF_MATCH, 0, &s);
	CHECK_STR(s.host, "a.example");
}
TEST(html_no) { probe_sweep(_u, &proto_xmpp, L("<html><body>"), SNIFF_NO, 2, &s); }
TEST(xml_other) { probe_sweep(_u, &proto_xmpp, L("<?xml version='1.0'?><feed>"), SNIFF_NO, 23, &s); }
TEST(stream_prefix_only) { probe_sweep(_u, &proto_xmpp, L("<stream:streamer>"), SNIFF_NO, 15, &s); }
TEST(unquoted) { probe_sweep(_u, &proto_xmpp, L("<stream:stream to=a.example>"), SNIFF_NO, 19, &s); }
TEST(http_no) { probe_sweep(_u, &proto_xmpp, L("GET / HTTP/1.1\r\n"), SNIFF_NO, 1, &s); }

UNIT_MAIN("proto_xmpp", client_stream, no_declaration, no_to, decl_newline, html_no,
	  xml_other, stream_prefix_only, unquoted, http_no)
