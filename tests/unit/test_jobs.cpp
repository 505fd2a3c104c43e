// Job files (src/frontend/jobs): every line becomes a job or a failed job with its error,
// ids, seeds, outputs kept inside the output folder, shards, and what --resume reads.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "frontend/jobs.hpp"
#include "safetensors_test_util.hpp"

using namespace gen::frontend;
using gen_test::test_dir;
using gen_test::write_file;

namespace {

std::vector<Job> jobs_of(const std::string& text) {
  const auto path = test_dir() + "/jobs.jsonl";
  write_file(path, text);
  return read_jobs(path);
}

}  // namespace

TEST(Jobs, GoodAndBadLines) {
  const auto jobs = jobs_of(
      "\xEF\xBB\xBF{\"id\": \"a\", \"prompt\": \"x\"}\r\n"
      "\n"
      "   \n"
      "{\"prompt\": \"no id\", \"seed\": 3, \"batch_size\": 2}\n"
      "{oops\n"
      "{\"id\": 7, \"prompt\": \"numeric id\"}\n"
      "{\"id\": \"a\"}\n"
      "{\"id\": \"../x\"}\n"
      "{\"id\": \"w\", \"width\": 12}\n");
  ASSERT_EQ(jobs.size(), 7u);
  EXPECT_TRUE(jobs[0].ok());
  EXPECT_EQ(jobs[0].id, "a");
  EXPECT_EQ(jobs[0].line, 1);
  EXPECT_EQ(jobs[0].outputs, (std::vector<std::string>{"a-0-" + std::to_string(job_seed("a")) + ".png"}));
  EXPECT_TRUE(jobs[1].ok());
  EXPECT_EQ(jobs[1].id, "line-4");
  EXPECT_EQ(jobs[1].ordinal, 1);
  EXPECT_EQ(jobs[1].seeds, (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(jobs[1].outputs, (std::vector<std::string>{"line-4-0-3.png", "line-4-1-4.png"}));
  EXPECT_FALSE(jobs[2].ok());
  EXPECT_EQ(jobs[2].error, gen::ErrorCode::InvalidArgument);
  EXPECT_NE(jobs[2].message.find("jobs.jsonl:5: not valid JSON"), std::string::npos) << jobs[2].message;
  EXPECT_TRUE(jobs[3].ok());
  EXPECT_EQ(jobs[3].id, "7");
  EXPECT_FALSE(jobs[4].ok());
  EXPECT_NE(jobs[4].message.find("already used on line 1"), std::string::npos);
  EXPECT_FALSE(jobs[5].ok());
  EXPECT_FALSE(jobs[6].ok());
  EXPECT_NE(jobs[6].message.find("jobs.jsonl:9 (id w): width"), std::string::npos) << jobs[6].message;
}

TEST(Jobs, OutputsStayInsideTheFolderAndApart) {
  const auto jobs = jobs_of(
      "{\"id\": \"abs\", \"output\": \"/etc/x-{index}.png\"}\n"
      "{\"id\": \"up\", \"output\": \"a/../../x.png\"}\n"
      "{\"id\": \"dot\", \"output\": \"./x.png\"}\n"
      "{\"id\": \"ext\", \"output\": \"x-{index}.jpg\"}\n"
      "{\"id\": \"one\", \"output\": \"same.png\", \"seed\": 1}\n"
      "{\"id\": \"two\", \"output\": \"same.png\", \"seed\": 2}\n"
      "{\"id\": \"self\", \"output\": \"fixed.png\", \"batch_size\": 2}\n"
      "{\"id\": \"deep\", \"output\": \"a/b/{job}-{index}.png\"}\n");
  ASSERT_EQ(jobs.size(), 8u);
  for (int i : {0, 1, 2}) EXPECT_NE(jobs[i].message.find("leaves the output folder"), std::string::npos) << i;
  EXPECT_NE(jobs[3].message.find("must end in .png"), std::string::npos);
  EXPECT_TRUE(jobs[4].ok());
  EXPECT_NE(jobs[5].message.find("also written by job one"), std::string::npos) << jobs[5].message;
  EXPECT_NE(jobs[6].message.find("overwrite each other"), std::string::npos);
  EXPECT_TRUE(jobs[7].ok());
  EXPECT_EQ(jobs[7].outputs.at(0), "a/b/deep-0.png");
}

TEST(Jobs, SeedsFromIdsAreStable) {
  EXPECT_EQ(job_seed("cat-1"), job_seed("cat-1"));
  EXPECT_NE(job_seed("cat-1"), job_seed("cat-2"));
  EXPECT_LE(job_seed("anything"), 0xffffffffu);
}

TEST(Jobs, ShardsPartitionTheFile) {
  EXPECT_THROW(parse_shard("1"), gen::Error);
  EXPECT_THROW(parse_shard("2/2"), gen::Error);
  EXPECT_THROW(parse_shard("-1/2"), gen::Error);
  EXPECT_THROW(parse_shard("0/0"), gen::Error);
  EXPECT_THROW(parse_shard("0/2x"), gen::Error);
  const auto s = parse_shard("1/3");
  EXPECT_EQ(s.index, 1);
  EXPECT_EQ(s.count, 3);
  std::string text;
  for (int i = 0; i < 10; ++i) text += "{\"id\": \"j" + std::to_string(i) + "\"}\n";
  const auto jobs = jobs_of(text);
  std::multiset<std::string> seen;
  for (int k = 0; k < 3; ++k)
    for (const auto& j : jobs)
      if (parse_shard(std::to_string(k) + "/3").contains(j)) seen.insert(j.id);
  EXPECT_EQ(seen.size(), 10u);
  for (const auto& j : jobs) EXPECT_EQ(seen.count(j.id), 1u);
}

TEST(Jobs, CompletedJobsFromResults) {
  const auto dir = test_dir();
  EXPECT_TRUE(completed_jobs(dir + "/missing.jsonl").empty());
  write_file(dir + "/r.jsonl",
             "{\"id\": \"a\", \"status\": \"ok\"}\n"
             "{\"id\": \"b\", \"status\": \"failed\"}\n"
             "{\"id\": \"c\", \"status\": \"ok\"}\n"
             "{\"id\": \"d\", \"sta");  // torn by a kill
  EXPECT_EQ(completed_jobs(dir + "/r.jsonl"), (std::set<std::string>{"a", "c"}));
}
