// A small results table written as CSV, JSON and markdown: every figure an experiment
// reports goes through one of these, straight from the computed values.
#pragma once

#include <string>
#include <variant>
#include <vector>

namespace qkv {

class Table {
 public:
  using Cell = std::variant<std::string, double, int64_t>;
  explicit Table(std::vector<std::string> columns);

  void add_row(std::vector<Cell> row);  // one cell per column
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<Cell>>& rows() const { return rows_; }

  std::string csv() const;
  std::string json() const;      // an array of objects
  std::string markdown() const;  // numbers with 4 significant digits
  // Writes csv() and json() to <path_stem>.csv and <path_stem>.json atomically.
  void save(const std::string& path_stem) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
};

}  // namespace qkv
