// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite of udpcount's decisions (udpcount_logic.h, the module's own
 * header): when a count calls for a notification, which values "every"
 * takes, and which datagrams are counted under which port.
 */
#include <kunit/test.h>
#include <linux/module.h>

#include "udpcount_logic.h"

#define UDPCOUNT_TEST_PORT	5000

static void udpcount_test_every_bounds(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, udpcount_every_valid(0));
	KUNIT_EXPECT_TRUE(test, udpcount_every_valid(1));
	KUNIT_EXPECT_TRUE(test, udpcount_every_valid(UDPCOUNT_EVERY_MAX));
	KUNIT_EXPECT_FALSE(test, udpcount_every_valid(UDPCOUNT_EVERY_MAX + 1));
}

static void udpcount_test_due_on_multiples(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, udpcount_is_due(4, 4));
	KUNIT_EXPECT_TRUE(test, udpcount_is_due(8, 4));
	KUNIT_EXPECT_FALSE(test, udpcount_is_due(5, 4));
	KUNIT_EXPECT_TRUE(test, udpcount_is_due(7, 1));
	KUNIT_EXPECT_TRUE(test, udpcount_is_due(1ULL << 40, 2));
	/* "every" is never 0 once loaded; were it, nothing would be due. */
	KUNIT_EXPECT_FALSE(test, udpcount_is_due(3, 0));
}

/* An IPv4 header of @ihl words, then a UDP header unless @udp is false. */
static struct sk_buff *udpcount_test_skb(struct kunit *test, u8 protocol,
					 __be16 frag_off, unsigned int ihl,
					 bool udp)
{
	struct sk_buff *skb = alloc_skb(128, GFP_KERNEL);
	struct iphdr *iph;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, skb);
	skb_reset_network_header(skb);
	iph = skb_put_zero(skb, ihl * 4);
	iph->version = 4;
	iph->ihl = ihl;
	iph->protocol = protocol;
	iph->frag_off = frag_off;
	if (udp) {
		struct udphdr *uh = skb_put_zero(skb, sizeof(*uh));

		uh->dest = htons(UDPCOUNT_TEST_PORT);
	}
	return skb;
}

static void udpcount_test_port_of_a_datagram(struct kunit *test)
{
	struct sk_buff *plain = udpcount_test_skb(test, IPPROTO_UDP, 0, 5, true);
	struct sk_buff *options = udpcount_test_skb(test, IPPROTO_UDP, 0, 6, true);
	u16 port = 0;

	KUNIT_EXPECT_TRUE(test, udpcount_dest_port(plain, &port));
	KUNIT_EXPECT_EQ(test, port, (u16)UDPCOUNT_TEST_PORT);
	port = 0;
	/* The UDP header comes after the IP options. */
	KUNIT_EXPECT_TRUE(test, udpcount_dest_port(options, &port));
	KUNIT_EXPECT_EQ(test, port, (u16)UDPCOUNT_TEST_PORT);
	kfree_skb(plain);
	kfree_skb(options);
}

static void udpcount_test_what_is_not_counted(struct kunit *test)
{
	struct sk_buff *tcp = udpcount_test_skb(test, IPPROTO_TCP, 0, 5, true);
	struct sk_buff *later = udpcount_test_skb(test, IPPROTO_UDP,
						  htons(185), 5, true);
	struct sk_buff *cut = udpcount_test_skb(test, IPPROTO_UDP, 0, 5, false);
	u16 port = 0;

	KUNIT_EXPECT_FALSE(test, udpcount_dest_port(tcp, &port));
	KUNIT_EXPECT_FALSE(test, udpcount_dest_port(later, &port));
	KUNIT_EXPECT_FALSE(test, udpcount_dest_port(cut, &port));
	KUNIT_EXPECT_EQ(test, port, (u16)0);
	kfree_skb(tcp);
	kfree_skb(later);
	kfree_skb(cut);
}

static struct kunit_case udpcount_test_cases[] = {
	KUNIT_CASE(udpcount_test_every_bounds),
	KUNIT_CASE(udpcount_test_due_on_multiples),
	KUNIT_CASE(udpcount_test_port_of_a_datagram),
	KUNIT_CASE(udpcount_test_what_is_not_counted),
	{}
};

static struct kunit_suite udpcount_test_suite = {
	.name = "udpcount",
	.test_cases = udpcount_test_cases,
};

kunit_test_suites(&udpcount_test_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit suite of udpcount's decisions");
