//! Who may approve a promotion, asked of GitHub: a named login, a member of a named team
//! (`GET /orgs/{org}/teams/{team}/memberships/{login}`, active), or — when no approvers are
//! named — anyone with write access (`GET /repos/{o}/{r}/collaborators/{login}/permission`).

use super::GitHub;
use crate::report::ReportError;
use crate::state::journal::approvals::listed;

/// GitHub logins are letters, digits and single hyphens: anything else is not one (and never
/// goes into a URL).
fn is_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl GitHub {
    pub(super) async fn approver(
        &self,
        login: &str,
        approvers: &[String],
    ) -> Result<bool, ReportError> {
        if !is_login(login) {
            return Ok(false);
        }
        if listed(login, approvers) {
            return Ok(true);
        }
        for (org, team) in approvers.iter().filter_map(|a| a.split_once('/')) {
            let route = format!("/orgs/{org}/teams/{team}/memberships/{login}");
            if let Some(v) = self.get_json(&route).await?
                && v["state"] == "active"
            {
                return Ok(true);
            }
        }
        if approvers.is_empty() {
            let route = format!(
                "/repos/{}/{}/collaborators/{login}/permission",
                self.owner, self.repo
            );
            let v = self.get_json(&route).await?.unwrap_or_default();
            let role = v["role_name"].as_str().or(v["permission"].as_str());
            return Ok(matches!(role, Some("admin" | "maintain" | "write")));
        }
        Ok(false)
    }

    /// GET `route` as JSON; None for 404 (not a member, not a collaborator).
    async fn get_json(&self, route: &str) -> Result<Option<serde_json::Value>, ReportError> {
        let operation = format!("GET {route}");
        match self
            .retrying(&operation, || {
                self.crab
                    .get::<serde_json::Value, _, ()>(route.to_string(), None)
            })
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code == 404 => Ok(None),
            Err(e) => Err(self.error(&operation, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_logins_go_into_urls() {
        assert!(super::is_login("ada-lovelace"));
        assert!(!super::is_login("../../orgs"));
        assert!(!super::is_login("a?b"));
        assert!(!super::is_login(""));
    }
}
