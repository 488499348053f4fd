//! A calm dark theme: photos are judged against neutral grey, not against saturated chrome.

use egui::{Color32, Visuals};

/// The accent used for the run button, progress and selections.
pub const ACCENT: Color32 = Color32::from_rgb(86, 156, 214);

/// Around the photo in the viewer: darker than the panels, neutral.
pub const VIEWER_BACKGROUND: Color32 = Color32::from_gray(22);

pub fn apply(ctx: &egui::Context) {
    let mut visuals = Visuals::dark();
    visuals.panel_fill = Color32::from_gray(32);
    visuals.window_fill = Color32::from_gray(36);
    visuals.extreme_bg_color = VIEWER_BACKGROUND;
    visuals.selection.bg_fill = ACCENT.gamma_multiply(0.7);
    visuals.hyperlink_color = ACCENT;
    ctx.set_visuals_of(egui::Theme::Dark, visuals);
    ctx.set_theme(egui::ThemePreference::Dark);
    ctx.global_style_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 4.0);
    });
}
