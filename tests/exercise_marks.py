"""Which exercises each test uses (see docs/instructors.md).

A key is a test id (``file::function``, with ``[params]`` where parameters
differ); its value is the tuple of exercise numbers whose regions the test
executes. tests/conftest.py turns an entry into markers at collection:

- ``ex<latest>``: the test is decided by the latest exercise it needs, so
  ``pytest -m ex3`` (``make test EX=3``) runs exactly the tests that
  Exercise 3 completes once Exercises 1 and 2 are done;
- ``uses_ex<n>`` for every exercise in the tuple (``pytest -m uses_ex3``:
  everything that runs Exercise 3's code).

The table was made by tracing which exercise regions each test executes;
keep it in step when you add a test that reaches exercise code --
tests/test_coursework.py fails, naming the test, if a mark is missing or wrong.
"""
MARKS = {
    "test_gan_step.py::test_generator_step_gradients_flow_through_d_into_g": (9,),
    "test_bench.py::test_bench_json_schema": (1, 2, 3, 6, 7, 8),
    "test_checkpoint.py::test_interrupted_save_keeps_the_previous_checkpoint": (1, 2, 3, 6, 7, 8),
    "test_checkpoint.py::test_nan_loss_stops_training_naming_epoch_and_step_and_keeps_last_checkpoint": (1, 2, 3, 6, 7, 8),
    "test_checkpoint.py::test_optimizer_state_round_trips": (1, 2, 3, 6, 7, 8),
    "test_checkpoint.py::test_resume_is_bit_identical_to_an_uninterrupted_run[gan]": (1, 2, 3, 5, 6, 9),
    "test_checkpoint.py::test_resume_is_bit_identical_to_an_uninterrupted_run[vae]": (1, 2, 3, 6, 7, 8),
    "test_classifier.py::test_cnn_classifier_whole_model_gradients": (1, 2, 4, 5),
    "test_classifier.py::test_mlp_classifier_whole_model_gradients": (1, 2),
    "test_classifier.py::test_same_seed_same_training_run": (1, 2, 3),
    "test_classifier.py::test_training_lowers_loss_and_evaluate_reports_accuracy": (1, 2, 3),
    "test_cli.py::test_evaluate_json_has_metrics_and_baselines": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_cli.py::test_evaluate_with_user_reference_images": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_cli.py::test_resume_continues_the_run": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_cli.py::test_sample_png_and_npy": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_cli.py::test_train_writes_the_run_folder": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_conv.py::test_backward_twice_is_identical[<lambda>0]": (4,),
    "test_conv.py::test_blocks_of_one_row_give_the_same_results[Conv2D]": (4,),
    "test_conv.py::test_conv2d_gradcheck": (4,),
    "test_conv.py::test_conv2d_matches_loop_reference": (4,),
    "test_conv.py::test_dcgan_shape_chain_at_article_sizes": (4,),
    "test_conv.py::test_float32_in_float32_out[<lambda>0]": (4,),
    "test_conv.py::test_gradcheck_without_bias": (4,),
    "test_dcgan.py::test_discriminator_loss_gradient_with_label_smoothing": (1, 2, 4, 6),
    "test_dcgan.py::test_discriminator_loss_gradient_wrt_every_d_parameter": (1, 2, 4, 6),
    "test_dcgan.py::test_dropout_is_active_so_masks_must_be_replayed": (1, 2, 4, 6),
    "test_dcgan.py::test_r1_gradient_through_the_convolutional_discriminator": (1, 2, 4, 6),
    "test_dcgan.py::test_float32_in_float32_out": (1, 2, 3, 4, 5, 6, 9),
    "test_dcgan.py::test_generator_loss_gradient_wrt_every_g_parameter_through_d": (1, 2, 4, 5, 6, 9),
    "test_dcgan.py::test_train_step_is_reproducible_by_seed": (1, 2, 3, 4, 5, 6, 9),
    "test_dcgan.py::test_train_step_moves_both_players": (1, 2, 3, 4, 5, 6, 9),
    "test_every_layer.py::test_layer_passes_gradient_check[BatchNormalization]": (5,),
    "test_every_layer.py::test_layer_passes_gradient_check[Conv2D]": (4,),
    "test_every_layer.py::test_layer_passes_gradient_check[Dense]": (1,),
    "test_every_layer.py::test_layer_passes_gradient_check[LeakyReLU]": (2,),
    "test_every_layer.py::test_layer_passes_gradient_check[ReLU]": (2,),
    "test_every_layer.py::test_layer_passes_gradient_check[Sequential]": (1, 2),
    "test_every_layer.py::test_layer_passes_gradient_check[Sigmoid]": (2,),
    "test_every_layer.py::test_layer_passes_gradient_check[Tanh]": (2,),
    "test_gan.py::test_discriminator_loss_gradients": (1, 2, 6),
    "test_gan.py::test_r1_penalty_value_and_d_gradients": (1, 2, 6),
    "test_gan.py::test_lazy_r1_applies_every_kth_d_step_with_k_times_the_weight": (1, 2, 6),
    "test_gan.py::test_each_step_updates_only_its_player": (1, 2, 3, 5, 6, 9),
    "test_gan.py::test_ema_checkpoint_samples_the_same_in_a_gan_without_ema": (1, 2, 3, 5, 6, 9),
    "test_gan.py::test_ema_is_an_average_of_g_and_makes_the_samples": (1, 2, 3, 5, 6, 9),
    "test_gan.py::test_float32_training_keeps_float32": (1, 2, 3, 5, 6, 9),
    "test_gan.py::test_generator_loss_gradients_through_d": (1, 2, 5, 6, 9),
    "test_gan.py::test_label_smoothing_does_not_touch_the_fake_gradient": (1, 2, 6),
    "test_gan.py::test_losses_equal_their_formulas": (1, 2, 5, 6, 9),
    "test_gan.py::test_same_seed_same_parameters": (1, 2, 3, 5, 6, 9),
    "test_gradcheck.py::test_check_layer_catches_wrong_parameter_gradient": (1,),
    "test_layers.py::test_activation_gradients": (2,),
    "test_layers.py::test_backward_does_not_change_parameters": (1, 2, 5),
    "test_layers.py::test_batchnorm_dense_gradients": (5,),
    "test_layers.py::test_batchnorm_image_gradients": (5,),
    "test_layers.py::test_dense_gradients": (1,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[BatchNormalization]": (5,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[Dense]": (1,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[LeakyReLU]": (2,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[ReLU]": (2,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[Sequential]": (1, 2, 5),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[Sigmoid]": (2,),
    "test_layers.py::test_float32_in_float32_out_and_backward_is_repeatable[Tanh]": (2,),
    "test_layers.py::test_leaky_relu_gradients_over_alpha": (2,),
    "test_layers.py::test_sequential_gradients_through_every_layer": (1, 2, 5),
    "test_losses.py::test_bce_logits_equals_probabilities_at_moderate_z": (6,),
    "test_losses.py::test_bce_logits_gradcheck": (6,),
    "test_losses.py::test_bce_logits_stable_at_huge_logits": (6,),
    "test_losses.py::test_float32_in_float32_out[<lambda>-args1]": (6,),
    "test_losses.py::test_float32_in_float32_out[<lambda>-args5]": (7,),
    "test_losses.py::test_gaussian_kl_gradcheck": (7,),
    "test_losses.py::test_gaussian_kl_known_values": (7,),
    "test_losses.py::test_gaussian_kl_zero_at_the_prior": (7,),
    "test_optimizers.py::test_adam_first_step_is_lr_times_sign_of_gradient": (3,),
    "test_optimizers.py::test_adam_three_steps_by_hand": (3,),
    "test_optimizers.py::test_float32_parameters_stay_float32[Adam]": (3,),
    "test_optimizers.py::test_sequential_parameters_are_updated_in_place[<lambda>2]": (3,),
    "test_optimizers.py::test_state_dict_round_trip_through_npz": (3,),
    "test_optimizers.py::test_step_counter_counts_steps_not_parameters": (3,),
    "test_optimizers.py::test_two_optimizers_over_two_models_are_independent": (3,),
    "test_optimizers.py::test_updating_in_blocks_changes_nothing[Adam]": (3,),
    "test_training.py::test_best_checkpoint_and_early_stopping": (1, 2, 3, 6, 7, 8),
    "test_training.py::test_eval_every_k_epochs_and_after_the_last": (1, 2, 3, 6, 7, 8),
    "test_vae.py::test_autoencoder_float32_training_reduces_loss": (1, 2, 3, 6),
    "test_vae.py::test_autoencoder_loss_gradients_all_params": (1, 2, 6),
    "test_vae.py::test_autoencoder_shapes_ranges_and_determinism": (1, 2, 6),
    "test_vae.py::test_elbo_recon_is_summed_over_pixels": (1, 2, 6, 7, 8),
    "test_vae.py::test_kl_is_exactly_zero_at_the_prior": (1, 2, 6, 7, 8),
    "test_vae.py::test_reparameterize_backward_matches_numerical": (8,),
    "test_vae.py::test_train_loop_with_vae_writes_history_grids_and_checkpoints": (1, 2, 3, 6, 7, 8),
    "test_vae.py::test_vae_float32_training_reduces_loss": (1, 2, 3, 6, 7, 8),
    "test_vae.py::test_vae_is_not_a_plain_autoencoder": (1, 2, 6, 7, 8),
    "test_vae.py::test_vae_loss_gradients_all_params": (1, 2, 6, 7, 8),
    "test_vae.py::test_vae_training_is_reproducible": (1, 2, 3, 6, 7, 8),
    # WGAN-GP and the double backward (issue 7)
    "test_double_backward.py::test_dense_double_backward_any_rank": (1,),
    "test_double_backward.py::test_activation_double_backward": (2,),
    "test_double_backward.py::test_conv2d_double_backward": (4,),
    "test_double_backward.py::test_sequential_double_backward_mlp": (1, 2),
    "test_double_backward.py::test_sequential_double_backward_conv_stack": (1, 2, 4),
    "test_double_backward.py::test_nested_sequential_double_backward": (1, 2),
    "test_double_backward.py::test_float32_stays_float32": (1, 2, 4),
    "test_double_backward.py::test_layers_without_double_backward_say_so[batchnorm]": (1,),  # BN raises before its backward runs
    "test_double_backward.py::test_layers_without_double_backward_say_so[dropout]": (1,),
    "test_wgan_gp.py::test_penalty_gradients_wrt_critic_parameters_and_x_hat[leaky_relu]": (1, 2),
    "test_wgan_gp.py::test_penalty_gradients_wrt_critic_parameters_and_x_hat[tanh]": (1, 2),
    "test_wgan_gp.py::test_penalty_gradients_wrt_critic_parameters_and_x_hat[conv]": (1, 2, 4),
    "test_wgan_gp.py::test_penalty_of_a_linear_critic_by_hand": (1,),
    "test_wgan_gp.py::test_critic_loss_gradients[leaky_relu]": (1, 2),
    "test_wgan_gp.py::test_critic_loss_gradients[tanh]": (1, 2),
    "test_wgan_gp.py::test_critic_loss_gradients[conv]": (1, 2, 4),
    "test_wgan_gp.py::test_generator_loss_gradients_through_the_critic[leaky_relu]": (1, 2, 5),
    "test_wgan_gp.py::test_generator_loss_gradients_through_the_critic[tanh]": (1, 2, 5),
    "test_wgan_gp.py::test_generator_loss_gradients_through_the_critic[conv]": (1, 2, 4, 5),
    "test_wgan_gp.py::test_critic_step_changes_only_the_critic_and_generator_step_only_g": (1, 2, 3, 5),
    "test_wgan_gp.py::test_train_step_is_n_critic_critic_steps_then_one_generator_step": (1, 2, 3, 5),
    "test_wgan_gp.py::test_same_seed_same_run_and_eps_from_the_model_rng": (1, 2, 3, 5),
    "test_wgan_gp.py::test_trains_and_checkpoints_through_the_shared_loop": (1, 2, 3, 5),
    "test_conditional.py::test_cgan_discriminator_loss_gradients": (1, 2, 6),
    "test_conditional.py::test_cgan_generator_loss_gradients_through_d": (1, 2, 5, 6),
    "test_conditional.py::test_cvae_loss_gradients_all_params": (1, 2, 6, 7, 8),
    "test_conditional.py::test_cvae_loss_is_recon_plus_kl_and_the_label_matters": (1, 2, 6, 7, 8),
    "test_conditional.py::test_one_cgan_step_changes_only_what_it_should": (1, 2, 3, 5, 6),
    "test_conditional.py::test_cgan_losses_equal_their_formulas_and_mismatch_adds_a_term": (1, 2, 5, 6),
    "test_conditional.py::test_samples_follow_the_requested_labels": (1, 2, 3, 5, 6, 7, 8),
    "test_conditional.py::test_same_seed_same_cgan_run_and_float32_stays_float32": (1, 2, 3, 5, 6),
    "test_conditional.py::test_checkpoint_round_trip_through_the_registry[cgan-config0]": (1, 2, 3, 5, 6),
    "test_conditional.py::test_checkpoint_round_trip_through_the_registry[cvae-config1]": (1, 2, 3, 6, 7, 8),
    "test_cli.py::test_sample_label_draws_the_requested_digit": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    "test_cli.py::test_label_is_a_usage_error_for_unconditional_models_and_out_of_range": (1, 2, 3, 4, 5, 6, 7, 8, 9),  # uses the module fixture that trains every model
    # make notebooks: lesson 02's notebook runs as a kernel would (Dense, ReLU, SGD and Adam)
    "test_notebooks.py::test_a_generated_notebook_runs_as_a_kernel_would": (1, 2, 3),
    "test_training_safety.py::test_exploding_loss_stops_with_epoch_step_and_hint_and_saves_nothing_bad": (1, 2, 3, 5, 6, 9),
    "test_training_safety.py::test_a_layer_refusing_nan_mid_step_is_reported_as_divergence": (1, 2, 3, 6, 7, 8),
    "test_training_safety.py::test_non_finite_parameters_stop_the_run_before_they_are_saved": (1, 2, 3, 6, 7, 8),
    "test_training_safety.py::test_a_kill_between_best_and_last_is_repaired_by_resume": (1, 2, 3, 6, 7, 8),
    "test_training_safety.py::test_learning_rates_drop_to_a_quarter_after_decay_after_epochs_and_resume_keeps_them": (1, 2, 3, 6, 7, 8),
    "test_training_safety.py::test_a_run_starts_by_removing_the_temp_files_a_killed_save_left": (1, 2, 3, 6, 7, 8),
    "test_cli_flags.py::test_an_existing_run_is_not_overwritten_without_overwrite_or_resume": (1, 2, 3, 5, 6, 9),  # the module's gan_run fixture trains a GAN
    "test_cli_flags.py::test_resume_refuses_another_kind_best_npz_and_changed_flags": (1, 2, 3, 5, 6, 9),  # gan_run
    "test_cli_flags.py::test_train_uses_the_registry_recipe_and_prints_fd_beside_confidence": (1, 2, 3, 5, 6, 9),  # gan_run
    "test_cli_flags.py::test_debug_after_the_subcommand_and_case_insensitive_extensions": (1, 2, 3, 5, 6, 9),  # gan_run
    "test_cli_flags.py::test_recipe_article_is_the_plain_recipe": (1, 2, 3, 5, 6, 9),
    "test_cli_flags.py::test_quick_train_prints_the_thread_count": (1, 2, 3, 5, 6, 7, 8, 9),  # gan_run, then a VAE
}
