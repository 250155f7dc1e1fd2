#include "src/service/port_allocator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <set>

namespace sbx {
namespace {

TEST(PortAllocator, ReserveHandsOutDistinctPortsInRange) {
  PortAllocator ports(41000, 41009);
  std::set<int> seen;
  for (int i = 0; i < 5; ++i) {
    auto got = ports.reserve("sb-" + std::to_string(i), 2);
    ASSERT_TRUE(got.has_value());
    for (int p : *got) {
      EXPECT_GE(p, 41000);
      EXPECT_LE(p, 41009);
      EXPECT_TRUE(seen.insert(p).second) << "port " << p << " handed out twice";
    }
  }
  EXPECT_EQ(ports.used_count(), 10u);
}

TEST(PortAllocator, ExhaustedRangeFailsWithResourceExhaustedNamingTheKey) {
  PortAllocator ports(41000, 41002);
  ASSERT_TRUE(ports.reserve("a", 2).has_value());
  auto got = ports.reserve("b", 2);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(got.error().field, "docker.port_range");
  // A failed reservation holds nothing.
  EXPECT_TRUE(ports.ports_of("b").empty());
  EXPECT_EQ(ports.used_count(), 2u);
}

TEST(PortAllocator, ReleaseFreesEveryPortOfTheOwner) {
  PortAllocator ports(41000, 41003);
  auto a = ports.reserve("a", 2);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(ports.reserve("b", 2).has_value());
  EXPECT_FALSE(ports.reserve("c", 1).has_value());
  EXPECT_EQ(ports.release("a"), 2u);
  EXPECT_EQ(ports.release("a"), 0u);
  auto c = ports.reserve("c", 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(std::set<int>(c->begin(), c->end()), std::set<int>(a->begin(), a->end()));
}

TEST(PortAllocator, ReleasedPortIsNotReusedImmediately) {
  PortAllocator ports(41000, 41009);
  auto a = ports.reserve("a", 1);
  ASSERT_TRUE(a.has_value());
  ports.release("a");
  auto b = ports.reserve("b", 1);
  ASSERT_TRUE(b.has_value());
  EXPECT_NE((*a)[0], (*b)[0]);
}

TEST(PortAllocator, MarkUsedSeedsPortsThatAreThenSkipped) {
  PortAllocator ports(41000, 41003);
  ports.mark_used("old", {41000, 41001});
  EXPECT_TRUE(ports.in_use(41000));
  auto got = ports.reserve("new", 2);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::set<int>(got->begin(), got->end()), (std::set<int>{41002, 41003}));
  EXPECT_EQ(ports.release("old"), 2u);
}

TEST(PortAllocator, SecondReservationForTheSameOwnerIsRefused) {
  PortAllocator ports(41000, 41009);
  ASSERT_TRUE(ports.reserve("a", 1).has_value());
  auto again = ports.reserve("a", 1);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
}

// Binds a loopback listener on an ephemeral port (-1 on failure); `port` gets its number.
int listen_on_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

// True if nothing holds `port` on 127.0.0.1 right now.
bool loopback_port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return free;
}

TEST(PortAllocator, ProbeSkipsAPortAnotherProcessListensOn) {
  // Listen on an ephemeral loopback port, then offer exactly that port and its neighbour.
  // Other tests running in parallel also take ephemeral ports, so the neighbour is checked
  // to be free first (a few attempts; a neighbour taken in between fails the test loudly).
  int busy = 0;
  int fd = -1;
  int other = 0;
  for (int attempt = 0; attempt < 20 && fd < 0; ++attempt) {
    fd = listen_on_loopback(busy);
    ASSERT_GE(fd, 0);
    other = busy == 65535 ? busy - 1 : busy + 1;
    if (!loopback_port_free(other)) {
      ::close(fd);
      fd = -1;
    }
  }
  ASSERT_GE(fd, 0) << "no ephemeral port with a free neighbour in 20 attempts";
  const int low = std::min(busy, other);
  const int high = std::max(busy, other);

  PortAllocator probing(low, high, /*probe=*/true, "127.0.0.1");
  auto got = probing.reserve("x", 1);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)[0], other);
  EXPECT_FALSE(probing.reserve("y", 1).has_value());  // the only other port is busy

  PortAllocator blind(low, high, /*probe=*/false);
  auto both = blind.reserve("x", 2);
  ASSERT_TRUE(both.has_value());
  ::close(fd);
}

}  // namespace
}  // namespace sbx
