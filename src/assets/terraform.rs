//! The parts every Terraform project shares: pinned providers
//! (`versions.tf`), variables, outputs, a `terraform.tfvars.example` and a
//! README that says how to apply it and what was left out.

use serde::Serialize;

use super::{AssetError, GeneratedFile, LeftOut, hcl, render};

/// A Terraform provider, pinned to the version whose resource schemas the
/// tests check the generated files against (`tests/fixtures/terraform-schemas/`).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Provider {
    pub(crate) name: &'static str,
    pub(crate) source: &'static str,
    pub(crate) version: &'static str,
}

pub(crate) const CONFLUENT: Provider = Provider {
    name: "confluent",
    source: "confluentinc/confluent",
    version: "2.83.4",
};
pub(crate) const KAFKA: Provider = Provider {
    name: "kafka",
    source: "Mongey/kafka",
    version: "0.13.1",
};
pub(crate) const AWS: Provider = Provider {
    name: "aws",
    source: "hashicorp/aws",
    version: "6.0.0",
};

/// An input variable. `default` and `example` are HCL expressions.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Variable {
    pub(crate) name: &'static str,
    pub(crate) r#type: &'static str,
    pub(crate) description: String,
    pub(crate) default: Option<String>,
    pub(crate) example: String,
    pub(crate) sensitive: bool,
}

impl Variable {
    /// A required variable with an example value for the tfvars file.
    pub(crate) fn required(
        name: &'static str,
        r#type: &'static str,
        description: &str,
        example: String,
    ) -> Self {
        Variable {
            name,
            r#type,
            description: description.to_owned(),
            default: None,
            example,
            sensitive: false,
        }
    }

    /// A variable with a default (which the tfvars example repeats).
    pub(crate) fn with_default(
        name: &'static str,
        r#type: &'static str,
        description: &str,
        default: String,
    ) -> Self {
        Variable {
            name,
            r#type,
            description: description.to_owned(),
            example: default.clone(),
            default: Some(default),
            sensitive: false,
        }
    }

    /// A secret: marked `sensitive`, never given a value by kcp.
    pub(crate) fn secret(name: &'static str, description: &str) -> Self {
        Variable {
            name,
            r#type: "string",
            description: description.to_owned(),
            default: None,
            example: hcl::quote(""),
            sensitive: true,
        }
    }
}

/// An output value; `value` is an HCL expression.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Output {
    pub(crate) name: &'static str,
    pub(crate) value: String,
    pub(crate) description: &'static str,
    pub(crate) sensitive: bool,
}

impl Output {
    pub(crate) fn new(name: &'static str, value: &str, description: &'static str) -> Self {
        Output {
            name,
            value: value.to_owned(),
            description,
            sensitive: false,
        }
    }
}

/// Everything that makes one Terraform root module.
#[derive(Debug, Serialize)]
pub(crate) struct TfProject {
    /// README title.
    pub(crate) title: String,
    pub(crate) source: String,
    pub(crate) kind: &'static str,
    pub(crate) target_type: &'static str,
    /// README paragraphs describing what `main.tf` creates and why.
    pub(crate) about: Vec<String>,
    pub(crate) providers: Vec<Provider>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) outputs: Vec<Output>,
    /// The rendered `main.tf` (laid out by [`files`]).
    #[serde(skip)]
    pub(crate) main: String,
    pub(crate) left_out: Vec<LeftOut>,
    pub(crate) version: &'static str,
}

impl TfProject {
    pub(crate) fn new(
        kind: &'static str,
        target_type: &'static str,
        source: &str,
        title: String,
    ) -> Self {
        TfProject {
            title,
            source: source.to_owned(),
            kind,
            target_type,
            about: Vec::new(),
            providers: Vec::new(),
            variables: Vec::new(),
            outputs: Vec::new(),
            main: String::new(),
            left_out: Vec::new(),
            version: crate::VERSION,
        }
    }

    /// The project's files: `main.tf`, `variables.tf`, `outputs.tf` (when
    /// there are outputs), `versions.tf`, `terraform.tfvars.example`, `README.md`.
    pub(crate) fn files(&self) -> Result<Vec<GeneratedFile>, AssetError> {
        let file = |path: &str, contents: String| GeneratedFile {
            path: path.to_owned(),
            contents,
        };
        let mut files = vec![
            file("main.tf", hcl::layout(&self.main)),
            file(
                "variables.tf",
                hcl::layout(&render("terraform/variables.tf.j2", self)?),
            ),
        ];
        if !self.outputs.is_empty() {
            files.push(file(
                "outputs.tf",
                hcl::layout(&render("terraform/outputs.tf.j2", self)?),
            ));
        }
        files.push(file(
            "versions.tf",
            hcl::layout(&render("terraform/versions.tf.j2", self)?),
        ));
        files.push(file(
            "terraform.tfvars.example",
            hcl::layout(&render("terraform/terraform.tfvars.example.j2", self)?),
        ));
        files.push(file("README.md", render("terraform/README.md.j2", self)?));
        Ok(files)
    }
}
