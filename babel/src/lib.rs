//! The in-node agent `babel` and its job runner `babel-job-runner`.
