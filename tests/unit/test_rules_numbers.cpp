// Number classification: NANP and European dialing, the Caribbean codes, premium, toll-free,
// emergency, the shipped high-risk list (countries and ranges), site overrides, patterns.
#include <gtest/gtest.h>

#include "rules/config.hpp"
#include "rules/numbers.hpp"

namespace tw::rules {
namespace {

Classifier shipped(NumberingPlan plan = {}) {
  std::vector<std::string> errors;
  auto list =
      load_high_risk(std::string(TW_SOURCE_DIR) + "/data/high-risk-destinations.toml", errors);
  EXPECT_TRUE(list.has_value());
  EXPECT_TRUE(errors.empty());
  return Classifier(std::move(plan), list.value_or(HighRiskList{}));
}

struct Case {
  const char* number;
  NumberClass primary;
  const char* e164;
};

TEST(RulesNumbers, NorthAmericanDialing) {
  const Classifier c = shipped();
  const Case cases[] = {
      {"911", NumberClass::Emergency, ""},
      {"9911", NumberClass::Emergency, ""},
      {"933", NumberClass::Emergency, ""},
      {"112", NumberClass::Emergency, ""},
      {"999", NumberClass::Emergency, ""},
      {"411", NumberClass::Local, ""},
      {"5551234", NumberClass::Local, ""},
      {"2125551234", NumberClass::Local, "12125551234"},
      {"12125551234", NumberClass::National, "12125551234"},
      {"+12125551234", NumberClass::National, "12125551234"},
      {"18005551234", NumberClass::TollFree, "18005551234"},
      {"8885551234", NumberClass::TollFree, "18885551234"},
      {"18335551234", NumberClass::TollFree, "18335551234"},
      {"19005551234", NumberClass::Premium, "19005551234"},
      {"9005551234", NumberClass::Premium, "19005551234"},
      {"19765551234", NumberClass::Premium, "19765551234"},
      {"2129761234", NumberClass::Premium, "12129761234"},  // NPA-976-XXXX
      {"12129761234", NumberClass::Premium, "12129761234"},
      {"9761234", NumberClass::Premium, ""},  // 976-XXXX locally
      {"011442079460000", NumberClass::International, "442079460000"},
      {"00442079460000", NumberClass::International, "442079460000"},
      {"+442079460000", NumberClass::International, "442079460000"},
      {"01149301234567", NumberClass::International, "49301234567"},
      {"", NumberClass::Unknown, ""},
      {"*67", NumberClass::Unknown, ""},
      {"12", NumberClass::Unknown, ""},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.number);
    const NumberInfo n = c.classify(k.number);
    EXPECT_EQ(n.primary, k.primary) << n.classes.str();
    EXPECT_EQ(n.e164, k.e164);
  }
}

// The NANP area codes that are other countries, in every form they are dialed.
TEST(RulesNumbers, CaribbeanAreaCodesAreInternational) {
  const Classifier c = shipped();
  for (const char* npa : {"242", "246", "264", "268", "284", "345", "441", "473", "649", "664",
                          "721", "758", "767", "784", "809", "829", "849", "868", "869", "876"}) {
    for (const std::string& form :
         {std::string("1") + npa + "5551234", std::string(npa) + "5551234",
          std::string("+1") + npa + "5551234"}) {
      SCOPED_TRACE(form);
      const NumberInfo n = c.classify(form);
      EXPECT_TRUE(n.is(NumberClass::International)) << n.classes.str();
      EXPECT_FALSE(n.is(NumberClass::National));
      EXPECT_EQ(n.e164, std::string("1") + npa + "5551234");
    }
  }
  // Bahamas: international, not on the shipped high-risk list. Dominican Republic: both.
  EXPECT_EQ(c.classify("12425551234").primary, NumberClass::International);
  const NumberInfo dr = c.classify("8095551234");
  EXPECT_EQ(dr.primary, NumberClass::HighRisk);
  EXPECT_TRUE(dr.is(NumberClass::International));
  EXPECT_EQ(dr.high_risk, "Dominican Republic");
  // A domestic area code that merely looks exotic stays national.
  EXPECT_EQ(c.classify("18085551234").primary, NumberClass::National);  // Hawaii
}

TEST(RulesNumbers, HighRiskListCountriesRangesAndLongestMatch) {
  const Classifier c = shipped();
  struct HR {
    const char* number;
    const char* name;  // "" = not high-risk
  };
  const HR cases[] = {
      {"011537123456", "Cuba"},
      {"0113712345678", "Latvia"},
      {"0112521234567", "Somalia"},
      {"0118816123456", "Global Mobile Satellite System"},
      {"0118821234567", "International Networks"},
      {"011442079460000", ""},                                 // London: ordinary
      {"01144909879000", "United Kingdom premium rate (09)"},  // +44 9
      {"0113290512345", "Belgium premium rate (0900-0909)"},   // range, inside
      {"0113290012345", "Belgium premium rate (0900-0909)"},   // range, lower bound
      {"0113290912345", "Belgium premium rate (0900-0909)"},   // range, upper bound
      {"0113291012345", ""},                                   // just above the range
      {"011322123456", ""},                                    // Brussels
      {"0113989912345", "Italy premium rate (89x)"},
      {"0114190012345", "Switzerland premium rate (0900, 0901, 0906)"},
      {"0114190212345", ""},
      {"18765551234", "Jamaica"},
  };
  for (const HR& k : cases) {
    SCOPED_TRACE(k.number);
    const NumberInfo n = c.classify(k.number);
    EXPECT_EQ(n.high_risk, k.name);
    EXPECT_EQ(n.is(NumberClass::HighRisk), std::string(k.name) != "");
  }
}

TEST(RulesNumbers, HighRiskFileFormat) {
  std::vector<std::string> errors;
  auto list = parse_high_risk(R"(
[meta]
version = "test"
[[destination]]
name = "Wide"
prefixes = ["44"]
[[destination]]
name = "Narrow"
prefixes = ["4490"]
[[destination]]
name = "Range"
ranges = ["4470-4472"]
)",
                              "hr.toml", errors);
  ASSERT_TRUE(list) << errors.front();
  ASSERT_EQ(list->entries.size(), 3u);
  EXPECT_EQ(list->match("449012345")->name, "Narrow");  // the most specific entry names it
  EXPECT_EQ(list->match("441234")->name, "Wide");
  EXPECT_EQ(list->match("4471")->name, "Range");
  EXPECT_EQ(list->match("33123"), nullptr);

  errors.clear();
  EXPECT_FALSE(parse_high_risk("[[destination]]\nname = \"X\"\n", "hr.toml", errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "hr.toml:1:1: destination 'X' has neither 'prefixes' nor 'ranges'");
  errors.clear();
  EXPECT_FALSE(
      parse_high_risk("[[destination]]\nname = \"X\"\nprefix = [\"1\"]\n", "hr.toml", errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("hr.toml:3:1: unknown key 'prefix' in a destination"))
      << errors[0];
  errors.clear();
  EXPECT_FALSE(parse_high_risk("countries = []\n", "hr.toml", errors));
  EXPECT_TRUE(errors.at(0).starts_with("hr.toml:1:1: unknown key 'countries'")) << errors[0];
}

TEST(RulesNumbers, SiteOverridesWin) {
  NumberingPlan plan;
  plan.extra_premium = {"1212976"};
  plan.extra_international = {"1345"};  // already international: stays so
  plan.extra_local = {"1800555"};
  plan.extra_high_risk = {"4420"};
  plan.emergency = {"911", "8911"};
  const Classifier c = shipped(plan);
  EXPECT_EQ(c.classify("12129760000").primary, NumberClass::Premium);
  EXPECT_EQ(c.classify("18005551234").primary, NumberClass::Local);
  EXPECT_EQ(c.classify("18005561234").primary, NumberClass::TollFree);
  EXPECT_EQ(c.classify("011442079460000").high_risk, "site list");
  EXPECT_EQ(c.classify("8911").primary, NumberClass::Emergency);
  EXPECT_NE(c.classify("112").primary, NumberClass::Emergency);  // the site's list replaced it
}

TEST(RulesNumbers, EuropeanDialing) {
  NumberingPlan plan;
  plan.country_code = "44";
  plan.international_prefixes = {"00"};
  plan.extra_toll_free = {"0800", "0808"};
  const Classifier c = shipped(plan);
  EXPECT_EQ(c.classify("02079460000").primary, NumberClass::National);
  EXPECT_EQ(c.classify("02079460000").e164, "442079460000");
  EXPECT_EQ(c.classify("08001234567").primary, NumberClass::TollFree);
  // A national premium number is on the high-risk list through its E.164 form.
  EXPECT_EQ(c.classify("09098790000").high_risk, "United Kingdom premium rate (09)");
  EXPECT_EQ(c.classify("0033123456789").primary, NumberClass::International);
  EXPECT_EQ(c.classify("+442079460000").primary, NumberClass::National);
  EXPECT_EQ(c.classify("112").primary, NumberClass::Emergency);
  EXPECT_EQ(c.classify("79460000").primary, NumberClass::Local);
}

TEST(RulesNumbers, CallerIdsFromAbroad) {
  const Classifier c = shipped();
  EXPECT_EQ(c.classify_caller("8765551234").primary, NumberClass::HighRisk);  // Jamaica
  EXPECT_TRUE(c.classify_caller("2425551234").is(NumberClass::International));
  EXPECT_EQ(c.classify_caller("2125551234").primary, NumberClass::Local);
  // Carriers send international callers as E.164 without a prefix, or with one.
  EXPECT_EQ(c.classify_caller("442079460000").primary, NumberClass::International);
  EXPECT_EQ(c.classify_caller("442079460000").e164, "442079460000");
  EXPECT_EQ(c.classify_caller("011537123456").primary, NumberClass::HighRisk);
  EXPECT_EQ(c.classify_caller("+2341234567890").high_risk, "Nigeria");
}

TEST(RulesNumbers, PatternsAndSameNumber) {
  std::string err;
  auto exact = parse_number_pattern("2125550100", err);
  auto prefix = parse_number_pattern("21255501*", err);
  auto range = parse_number_pattern("2125550110-2125550119", err);
  ASSERT_TRUE(exact && prefix && range);
  EXPECT_TRUE(exact->matches("2125550100"));
  EXPECT_FALSE(exact->matches("21255501000"));
  EXPECT_TRUE(prefix->matches("2125550199"));
  EXPECT_FALSE(prefix->matches("2125550200"));
  EXPECT_TRUE(range->matches("2125550110"));
  EXPECT_TRUE(range->matches("2125550119"));
  EXPECT_FALSE(range->matches("2125550120"));
  EXPECT_FALSE(range->matches("212555011"));
  EXPECT_FALSE(parse_number_pattern("2125550119-2125550110", err));
  EXPECT_FALSE(parse_number_pattern("212-55", err));
  EXPECT_FALSE(parse_number_pattern("abc", err));
  EXPECT_FALSE(parse_number_pattern("", err));

  EXPECT_TRUE(same_number("2125550199", "2125550199"));
  EXPECT_TRUE(same_number("2125550199", "0199"));
  EXPECT_TRUE(same_number("12125550199", "2125550199"));
  EXPECT_FALSE(same_number("2125550199", "199"));
  EXPECT_FALSE(same_number("2125550199", "2125550198"));
  EXPECT_FALSE(same_number("", "2125550199"));
}

}  // namespace
}  // namespace tw::rules
