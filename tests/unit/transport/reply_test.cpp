// Tests of src/transport/reply.cpp: a request is answered exactly once whatever the
// handlers do with its Reply, and the seed routes' error bodies carry
// "detail".
#include "transport/reply.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

namespace ticketq {
namespace {

class RecordingSink : public ReplySink {
 public:
  struct Sent {
    std::string id;
    Response r;
  };
  void deliver(const RequestInfo& info, Response r) override {
    sent.push_back({info.id, std::move(r)});
  }
  StreamHandle open_stream(const RequestInfo& info, Response head,
                           std::function<void()> on_close) override {
    sent.push_back({info.id, std::move(head)});
    closers.push_back(std::move(on_close));
    return &sent;
  }
  std::vector<Sent> sent;
  std::vector<std::function<void()>> closers;
};

RequestInfo info(const std::string& id, bool seed = false) {
  RequestInfo i;
  i.id = id;
  i.route = "reserve";
  i.seed = seed;
  return i;
}

TEST(Reply, SendAnswersOnceAndCountsTheRequestUntilThen) {
  RecordingSink sink;
  Reply reply(sink, info("r1"));
  EXPECT_EQ(sink.unanswered(), 1);
  EXPECT_FALSE(reply.answered());
  reply.json(200, {{"status", "reserved"}});
  EXPECT_TRUE(reply.answered());
  EXPECT_EQ(sink.unanswered(), 0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].id, "r1");
  EXPECT_EQ(sink.sent[0].r.code, 200);
  EXPECT_EQ(sink.sent[0].r.body, "{\"status\":\"reserved\"}\n");
  EXPECT_STREQ(sink.sent[0].r.content_type, "application/json");
}

TEST(Reply, ASecondAnswerIsRefused) {
  RecordingSink sink;
  Reply reply(sink, info("r1"));
  reply.error(400, "bad");
  reply.json(200, {{"status", "reserved"}});
  Reply copy = reply;
  copy.error(503, "late");
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].r.code, 400);
  EXPECT_EQ(sink.unanswered(), 0);
}

TEST(Reply, DroppedUnansweredIsAnswered503) {
  RecordingSink sink;
  { Reply reply(sink, info("lost")); }
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].id, "lost");
  EXPECT_EQ(sink.sent[0].r.code, 503);
  EXPECT_EQ(sink.unanswered(), 0);
}

TEST(Reply, CopiesShareOneStateUntilTheLastIsGone) {
  RecordingSink sink;
  std::vector<std::function<void()>> callbacks;
  {
    Reply reply(sink, info("shared"));
    callbacks.push_back([reply] {});
    callbacks.push_back([reply] {});
  }
  EXPECT_TRUE(sink.sent.empty());  // callbacks still hold it
  callbacks.pop_back();
  EXPECT_TRUE(sink.sent.empty());
  callbacks.clear();  // e.g. a callback dropped on a path nobody mapped
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].r.code, 503);
}

TEST(Reply, AnsweredThroughACopyIsNotAnsweredAgainOnDrop) {
  RecordingSink sink;
  {
    Reply reply(sink, info("r"));
    std::function<void()> cb = [reply]() mutable { reply.json(200, {{"ok", true}}); };
    cb();
  }
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].r.code, 200);
}

TEST(Reply, OutlivingTheSinkIsHarmless) {
  auto sink = std::make_unique<RecordingSink>();
  Reply reply(*sink, info("orphan"));
  sink.reset();
  // Nothing to send to: nothing happens, now or when the Reply goes (a
  // use of the freed sink would be caught by ASan in the sanitizer run).
  reply.json(200, {{"ok", true}});
  EXPECT_FALSE(reply.answered());
}

TEST(Reply, SeedRoutesAddDetailToErrorBodies) {
  RecordingSink sink;
  Reply(sink, info("a", true)).error(400, "user_id must be a string");
  Reply(sink, info("b", false)).error(400, "user_id must be a string");
  Reply(sink, info("c", true)).json(409, {{"status", "sold_out"}, {"user_id", "u"}});
  Reply(sink, info("d", true)).json(503, {{"status", "unhealthy"}, {"error", "down"}});
  Reply(sink, info("e", true)).error(405, "method GET not allowed here", "POST");
  ASSERT_EQ(sink.sent.size(), 5u);
  EXPECT_EQ(sink.sent[0].r.body,
            "{\"error\":\"user_id must be a string\",\"detail\":\"user_id must be a string\"}\n");
  EXPECT_EQ(sink.sent[1].r.body, "{\"error\":\"user_id must be a string\"}\n");
  // The original's own shapes stay as they were.
  EXPECT_EQ(sink.sent[2].r.body, "{\"status\":\"sold_out\",\"user_id\":\"u\"}\n");
  EXPECT_EQ(sink.sent[3].r.body,
            "{\"status\":\"unhealthy\",\"error\":\"down\",\"detail\":\"down\"}\n");
  EXPECT_STREQ(sink.sent[4].r.allow, "POST");
}

TEST(Reply, AStreamAnswersOnceWithItsHeadAndTheAddedHeaders) {
  RecordingSink sink;
  Reply reply(sink, info("s1"));
  reply.add_header("Set-Cookie: a=b");
  bool closed = false;
  StreamHandle h = reply.stream(Response{200, {}, "text/event-stream"}, [&] { closed = true; });
  EXPECT_NE(h, nullptr);
  EXPECT_TRUE(reply.answered());
  EXPECT_EQ(sink.unanswered(), 0);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_STREQ(sink.sent[0].r.content_type, "text/event-stream");
  EXPECT_EQ(sink.sent[0].r.headers, "Set-Cookie: a=b\r\n");
  // A reply after the stream is refused; a second stream too.
  reply.json(200, {{"late", true}});
  EXPECT_EQ(reply.stream(Response{}, [] {}), nullptr);
  EXPECT_EQ(sink.sent.size(), 1u);
  sink.closers[0]();
  EXPECT_TRUE(closed);
}

TEST(Reply, AddedHeadersGoWithAnyReply) {
  RecordingSink sink;
  Reply reply(sink, info("h1"));
  reply.add_header("Vary: Origin");
  reply.add_header("X-One: 1");
  reply.error(400, "bad");
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].r.headers, "Vary: Origin\r\nX-One: 1\r\n");
}

}  // namespace
}  // namespace ticketq
