#include "pipeline/sampling_config.hpp"

namespace gen::pipeline {

SchedulerConfig sampling_config(const nlohmann::json& folder_config, const std::string& sampler,
                                const std::string& prediction, const std::string& subject) {
  SchedulerConfig c;
  if (!folder_config.is_null()) c = SchedulerConfig::from_json(folder_config, sampler, subject);
  c.steps_offset = 1;
  c.clip_sample = false;
  c.prediction_type = prediction == "v_prediction" ? Prediction::VPrediction : Prediction::Epsilon;
  return c;
}

}  // namespace gen::pipeline
